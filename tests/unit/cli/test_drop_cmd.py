"""``clipvec drop``: asks on a terminal, refuses without one unless --yes; no model needed.

One Milvus Lite file for the module, one collection per test. The server variant and the
model-mismatch message that points here are in tests/integration/store/test_data_safety.py.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from clipvec.store import ImageRecord, ImageStore

DIM = 4
COLLECTIONS = ("kept_without_tty", "answered_no", "answered_yes", "dropped_with_yes")


def count(db: Path, collection: str) -> int:
    with ImageStore(str(db), collection=collection, model_name="m", dim=DIM) as store:
        return store.count()


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Iterator[Path]:
    """One file with a collection of 3 records per test, held open for the module (see below)."""
    path = tmp_path_factory.mktemp("drop") / "milvus.db"
    with contextlib.ExitStack() as open_stores:
        for name in COLLECTIONS:
            store = open_stores.enter_context(ImageStore(str(path), collection=name, model_name="m", dim=DIM))
            store.upsert(
                [ImageRecord(f"h{i}", [f"{i}.png"], 1, 1.0, 1, 1, "PNG", np.ones(DIM)) for i in range(3)]
            )
        # A store of another collection stays open: each drop and count then finds milvus-lite's
        # helper for this file running (0.01 s instead of 0.5 s to open).
        open_stores.enter_context(ImageStore(str(path), collection="keeper", model_name="m", dim=DIM))
        yield path


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@dataclass
class Asker:
    """Questions asked on a terminal (stdin is one); each is answered with the next of ``replies``."""

    asked: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)

    def input(self, prompt: str) -> str:
        self.asked.append(prompt)
        return self.replies.pop(0)


@pytest.fixture
def terminal(monkeypatch) -> Asker:
    asker = Asker()
    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("builtins.input", asker.input)
    return asker


def test_without_a_terminal_and_without_yes_nothing_is_deleted(run_cli, db, monkeypatch, no_model_load):
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # piped: not a terminal, never read
    result = run_cli("drop", "--milvus-uri", db, "--collection", "kept_without_tty")
    where = f"collection 'kept_without_tty' at {db}"
    assert result.code == 1
    assert result.err == f"clipvec: not deleting {where} without --yes (no terminal to ask)\n"
    assert result.out == f"{where}: nothing deleted\n"
    assert count(db, "kept_without_tty") == 3


@pytest.mark.parametrize(
    ("collection", "reply", "code"), [("answered_no", " N ", 1), ("answered_yes", "Yes\n", 0)]
)
def test_on_a_terminal_it_asks_with_the_count(collection, reply, code, run_cli, db, terminal):
    terminal.replies.append(reply)
    result = run_cli("drop", "--milvus-uri", db, "--collection", collection)
    where = f"collection {collection!r} at {db}"
    assert terminal.asked == [f"Delete {where} with 3 images? The image files stay. [y/N] "]
    assert result.code == code and result.err == ""
    assert result.out == (f"deleted {where}\n" if code == 0 else f"{where}: nothing deleted\n")
    assert count(db, collection) == (0 if code == 0 else 3)


def test_yes_deletes_without_asking(run_cli, db, terminal):
    result = run_cli("drop", "--yes", "--milvus-uri", db, "--collection", "dropped_with_yes")
    assert result.code == 0 and terminal.asked == []
    assert result.out == f"deleted collection 'dropped_with_yes' at {db}\n"
    assert count(db, "dropped_with_yes") == 0


def test_an_absent_collection_is_exit_1_without_asking(run_cli, db, terminal):
    result = run_cli("drop", "--milvus-uri", db, "--collection", "never_made")
    assert result.code == 1 and terminal.asked == []
    assert result.out == f"collection 'never_made' at {db}: nothing deleted\n"


def test_a_missing_lite_file_is_exit_2_and_creates_nothing(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("drop", "--yes")
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("clipvec: there is no Milvus Lite file"), result.err
    assert result.err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
