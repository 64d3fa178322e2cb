"""Milvus Lite helpers start as soon as they listen (``store/lite_helper.py``), refused as before when they die.

milvus-lite's own start waited a fixed 0.5 s for every helper; ``PromptServer`` waits for the
helper's socket. The half second is measured in docs/BENCHMARKS.md, not here: these tests pin
what must not change with it (a dead helper refused, the lock let go, one helper per file in a
process shared with a user's own client) and that the start answers once the socket exists.
"""

from __future__ import annotations

import contextlib
import socket as sockets
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from clipvec.errors import StoreUnavailable
from clipvec.store import ImageStore, lite_helper


def fake_helper(folder: Path, script: str) -> Path:
    """A milvus-lite binary folder whose ``milvus`` runs ``script`` (sh; $2 is the socket URI)."""
    folder.mkdir()
    binary = folder / "milvus"
    binary.write_text("#!/bin/sh\n" + script + "\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return folder


@contextlib.contextmanager
def listener(socket: Path, *, listen_after: float) -> Iterator[subprocess.Popen]:
    """A stand-in helper: binds ``socket``, listens ``listen_after`` seconds later, exits 3 s after that."""
    script = (
        "import socket, sys, time\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "s.bind(sys.argv[1])\n"
        "time.sleep(float(sys.argv[2]))\n"
        "s.listen()\n"
        "time.sleep(3)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script, str(socket), str(listen_after)])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_the_start_answers_when_the_helper_listens_not_after_a_fixed_wait(tmp_path, monkeypatch):
    # The helper listens at once and exits 3 s later; with a 60 s settle, a fixed wait would see
    # it dead (a refusal), a prompt start sees it listening (and the test takes no 60 s).
    monkeypatch.setattr(lite_helper, "SETTLE_SECONDS", 60.0)
    socket = tmp_path / "helper.sock"
    with listener(socket, listen_after=0) as process:
        assert lite_helper._listening(process, socket) is True
        assert process.poll() is None


def test_the_start_waits_from_the_sockets_bind_to_its_listen(tmp_path, monkeypatch):
    # The socket file exists from bind(); a client connecting before listen() is refused, and
    # pymilvus connects once (seen in CI: a raw MilvusClient on a Lite file, "Connection refused").
    monkeypatch.setattr(lite_helper, "SETTLE_SECONDS", 60.0)
    socket = tmp_path / "helper.sock"
    with listener(socket, listen_after=0.5) as process:
        assert lite_helper._listening(process, socket) is True
        with sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM) as client:
            client.connect(str(socket))  # refused if the start answered at bind()


def test_a_helper_dead_before_listening_is_a_refusal(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(4)"])
    assert lite_helper._listening(process, tmp_path / "never.sock") is False


def test_a_helper_that_dies_at_start_is_unavailable_and_the_file_stays_usable(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setenv("BIN_PATH", str(fake_helper(tmp_path / "bin", "exit 1")))
        with pytest.raises(StoreUnavailable, match="cannot open Milvus at"):
            ImageStore(str(tmp_path / "m.db"), collection="c", model_name="m", dim=4, connect_timeout=2)
    with ImageStore(
        str(tmp_path / "m.db"), collection="c", model_name="m", dim=4
    ) as store:  # not left locked
        assert store.count() == 0


def test_a_users_own_client_shares_the_stores_helper(tmp_path):
    from pymilvus import MilvusClient

    with ImageStore(str(tmp_path / "m.db"), collection="c", model_name="m", dim=4) as store:
        own = MilvusClient(
            uri=str(tmp_path / "m.db")
        )  # the same helper: a second one could not lock the file
        try:
            assert own.has_collection("c")
        finally:
            own.close()
        assert store.count() == 0
