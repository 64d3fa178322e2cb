"""Pytest plugin: Milvus fixtures shared by every test folder.

Register once in ``tests/conftest.py``::

    pytest_plugins = ["milvus_fixtures"]

Fixtures
--------
``milvus_server`` (session)
    One real Milvus 2.3.5 standalone server for the whole session, started on first use
    (so ``-m "not server"`` runs never start it). If it cannot start, every test that needs
    it ERRORs with the server's log tail; nothing is skipped.
``milvus_backend`` (function, params ``lite`` / ``server``)
    ``MilvusBackend(uri, collection)``: a fresh Milvus Lite file (``tmp_path/milvus.db``) or
    the session server's URI, and a collection name unique to the test. Afterwards the
    collections named ``<collection>*`` are dropped from the server, so a test may create
    ``collection + "_l2"`` and the like. The ``server`` param carries the ``server`` marker.
``milvus_uri`` (function)
    Just ``milvus_backend.uri``.
``milvus_private_server`` (function)
    A server of its own, for tests that stop and restart it ("Milvus went down").

``raw_client(uri)`` is a plain pymilvus client, for tests that look past clipvec's store.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from milvus_server import MilvusServer

__all__ = [
    "MilvusBackend",
    "milvus_backend",
    "milvus_private_server",
    "milvus_server",
    "milvus_uri",
    "raw_client",
]


class MilvusBackend(NamedTuple):
    uri: str
    collection: str

    @property
    def kind(self) -> str:
        return "lite" if self.uri.endswith(".db") else "server"

    @property
    def is_lite(self) -> bool:
        return self.kind == "lite"


def unique_collection(prefix: str = "t") -> str:
    """A valid, unique Milvus collection name (letters, digits, underscores)."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def raw_client(uri: str, *, timeout: float = 60.0) -> Any:
    """A plain ``MilvusClient`` on ``uri``; on a Lite file, asked again while its helper starts.

    pymilvus connects to a new Lite helper once; on a busy machine the helper may listen only
    after milvus-lite's start returned (clipvec's ``Connection.open`` retries the same way).
    """
    from pymilvus import MilvusClient

    from clipvec.store.connection import LITE_NOT_LISTENING, LITE_RETRY_PAUSE

    deadline = time.monotonic() + timeout
    while True:
        try:
            return MilvusClient(uri=uri, timeout=timeout)
        except Exception as exc:
            if LITE_NOT_LISTENING not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(LITE_RETRY_PAUSE)


def drop_collections(uri: str, prefix: str) -> None:
    """Best-effort cleanup on a server: drop the collections whose name starts with ``prefix``."""
    from pymilvus import MilvusClient

    with contextlib.suppress(Exception):
        client = MilvusClient(uri=uri, timeout=5)
        try:
            for name in client.list_collections(timeout=10):
                if name.startswith(prefix):
                    client.drop_collection(name, timeout=10)
        finally:
            client.close()


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusServer]:
    """The real Milvus 2.3.5 server, shared by the session (errors, never skips)."""
    server = MilvusServer(data_dir=tmp_path_factory.mktemp("milvus-server"))
    server.start()  # MilvusStartError (with the log tail) -> the dependent tests ERROR
    try:
        yield server
    finally:
        server.stop_timeout = 2.0  # its data is deleted next: no graceful stop to wait for
        server.close()


@pytest.fixture(params=["lite", pytest.param("server", marks=pytest.mark.server)])
def milvus_backend(request: pytest.FixtureRequest, tmp_path) -> Iterator[MilvusBackend]:
    """A fresh (uri, collection) on Milvus Lite 2.5 and on the real server."""
    collection = unique_collection()
    if request.param == "lite":
        yield MilvusBackend(str(tmp_path / "milvus.db"), collection)
        return
    server: MilvusServer = request.getfixturevalue("milvus_server")
    if not server.running:  # a test stopped it: bring it back for the others
        server.start()
    yield MilvusBackend(server.uri, collection)
    drop_collections(server.uri, collection)  # also the test's extra <collection>_* ones


@pytest.fixture
def milvus_uri(milvus_backend: MilvusBackend) -> str:
    return milvus_backend.uri


@pytest.fixture
def milvus_private_server(tmp_path) -> Iterator[MilvusServer]:
    """A server only this test uses: stop()/start() it freely (a restart takes 4-10 s).

    ``graceful_stop_timeout=3``: with a client connected, Milvus waits that long to stop.
    """
    server = MilvusServer(data_dir=tmp_path / "milvus-private", graceful_stop_timeout=3)
    server.start()
    try:
        yield server
    finally:
        server.close()
