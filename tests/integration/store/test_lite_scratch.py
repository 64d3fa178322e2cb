"""Milvus Lite's scratch folder: a failed set-up is tried again, and a lasting one is a clear error.

milvus-lite 2.5's helper sets up ``$HOME/.cache/milvus`` (shared by every helper on the
machine: it removes and remakes it) at its first collection create or load, ignores a failure
there, and then fails that call and every later one with "Mmap manager has not been init"
until a later create or load sets it up. Another process's helper making or removing the
folder at that moment is enough (seen as a flaky test with three test processes). Here the
helper's ``HOME`` has a *file* named ``.cache``, so the set-up fails for certain; the real
helper runs.
"""

from __future__ import annotations

import numpy as np
import pytest

import clipvec.store.connection as connection
from clipvec.errors import StoreUnavailable
from clipvec.store import ImageRecord, ImageStore

DIM = 4


@pytest.fixture
def broken_home(tmp_path, monkeypatch):
    """A HOME whose ``.cache`` is a file: the helper cannot make ``.cache/milvus`` under it."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".cache").write_text("not a folder")
    monkeypatch.setenv("HOME", str(home))  # the helper reads HOME when it starts
    return home


def test_a_scratch_set_up_that_fails_once_is_tried_again_and_the_store_works(
    tmp_path, broken_home, monkeypatch
):
    repairs = []

    def repair_then_pause() -> None:  # the other helper is done with the folder
        if not repairs:
            (broken_home / ".cache").unlink()
            (broken_home / ".cache").mkdir()
        repairs.append(1)

    monkeypatch.setattr(connection, "_pause_before_scratch_retry", repair_then_pause)
    with ImageStore(str(tmp_path / "m.db"), collection="c", model_name="m", dim=DIM) as store:
        store.upsert([ImageRecord("a" * 64, ["a.jpg"], 1, 1.0, 4, 4, "JPEG", np.ones(DIM, np.float32))])
        assert store.count() == 1
    assert len(repairs) == 1  # it did fail first, and one more try was enough


def test_a_scratch_folder_that_cannot_be_made_is_a_clear_unavailable_error(
    tmp_path, broken_home, monkeypatch
):
    pauses = []
    monkeypatch.setattr(connection, "_pause_before_scratch_retry", lambda: pauses.append(1))
    with pytest.raises(StoreUnavailable, match=r"could not set up its scratch folder .*\.cache/milvus"):
        ImageStore(str(tmp_path / "m.db"), collection="c", model_name="m", dim=DIM)
    assert len(pauses) == connection.LITE_SCRATCH_RETRIES
    # Nothing is left locked or half made: with a working HOME the same file opens.
    monkeypatch.setenv("HOME", str(tmp_path))
    with ImageStore(str(tmp_path / "m.db"), collection="c", model_name="m", dim=DIM) as store:
        assert store.count() == 0
