"""Milvus Lite's helper process for one file, started without milvus-lite's fixed half second.

milvus-lite serves a ``.db`` file from a helper process over a unix socket. Its own start
(``milvus_lite.server.Server.start``, which pymilvus calls for a ``.db`` URI) waits a fixed
0.5 s to see whether the helper dies at once, and only then lets the client connect: half a
second of every ``clipvec search``, import and service start, and of every test's fresh store,
for a helper that listens after ~0.05 s. ``PromptServer`` waits until the helper listens on its
socket instead (or its early death: the same refusal as before), at most the same 0.5 s; a
helper slower than that is connected to by ``Connection.open``'s retries, as before.

Only the wait differs: milvus-lite's ``ServerManager`` still makes, shares and stops the
helpers (``prompt_starts``), so a user's own ``MilvusClient("x.db")`` in the same process
shares the helper as before.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket as sockets
import subprocess
import time
from pathlib import Path

log = logging.getLogger("clipvec.store")

# How long a start waits for the helper's socket before handing over to the connect retries
# (milvus-lite's own fixed wait), and how often it looks.
SETTLE_SECONDS = 0.5
POLL_SECONDS = 0.005
# What Server.start reads and sets on milvus-lite 2.4-2.5; without them, its own start is used.
_SERVER_FIELDS = ("_db_file", "_lock_path", "_lock_fd", "_p", "_bin_path", "_work_dir", "_uds_path", "args")


def _server_class() -> type:
    from milvus_lite.server import Server

    class PromptServer(Server):
        """milvus-lite's ``Server`` whose start waits for the socket, not a fixed 0.5 s."""

        clipvec_prompt = True

        def start(self) -> bool:  # the same steps as Server.start (milvus-lite 2.5.1) but the wait
            if not all(hasattr(self, field) for field in _SERVER_FIELDS):
                return super().start()  # another milvus-lite: its own start, with its wait
            assert self._p is None, "Server already started"
            self._lock_fd = open(self._lock_path, "a")  # noqa: SIM115 - held while it runs; stop() closes it
            try:
                fcntl.lockf(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.error("Milvus Lite file %s is open in another program", self._db_file)
                return False
            env = {key: value for key, value in os.environ.items() if key not in _LIBRARY_PATHS}
            library_path = f"{self._bin_path}:{os.environ.get('LD_LIBRARY_PATH', '')}"
            env.update(dict.fromkeys(_LIBRARY_PATHS, library_path))
            self._p = subprocess.Popen(args=self.args, env=env, cwd=str(self._work_dir))
            return _listening(self._p, Path(self._uds_path))

    return PromptServer


_LIBRARY_PATHS = ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH")


def _listening(process: subprocess.Popen, socket: Path) -> bool:
    """Wait until the helper listens on its socket (True), died (False) or ``SETTLE_SECONDS`` passed (True)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.error("Milvus Lite's helper exited at start (status %s)", process.returncode)
            return False
        if socket.exists() and _accepts(socket):
            return True
        time.sleep(POLL_SECONDS)
    return process.poll() is None  # still starting: Connection.open connects with retries


def _accepts(socket: Path) -> bool:
    """Whether the helper listens on ``socket`` yet.

    The socket file appears at bind(), before the helper's listen(): a client connecting in
    between is refused, and pymilvus connects only once (a user's own ``MilvusClient``).
    """
    with sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM) as probe:
        try:
            probe.connect(str(socket))
        except OSError:
            return False
    return True


def prompt_starts() -> None:
    """Make milvus-lite start its helpers with ``PromptServer`` in this process (idempotent).

    milvus-lite's ``ServerManager`` (what pymilvus calls for a ``.db`` URI, and what
    ``lite_registry`` stops helpers through) makes its servers from its module's ``Server``:
    one helper per file per process stays shared with any other pymilvus client here.
    """
    import milvus_lite.server_manager as manager

    if not getattr(manager.Server, "clipvec_prompt", False):
        manager.Server = _server_class()
