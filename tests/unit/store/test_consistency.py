"""The read consistency policy: Strong after a delete or foreign writes, and while a server catches up.

A stand-in client answers ``get_load_state`` / ``load_collection``; the policy and the
connection's call wrapper are ours. The real server cases (restart, delete then count) are
in tests/integration/store/test_image_store.py.
"""

from __future__ import annotations

import grpc
import pytest

from clipvec.errors import StoreUnavailable
from clipvec.store.connection import Connection
from clipvec.store.consistency import ReadConsistency

STRONG = {"consistency_level": "Strong"}


class State:
    def __init__(self, name: str) -> None:
        self.name = name


class Client:
    def __init__(self, state: str = "Loaded", progress: int | None = None) -> None:
        self.state, self.progress = state, progress
        self.loads = 0
        self.down = False

    def get_load_state(self, collection, timeout):
        answer = {"state": State(self.state)}
        if self.progress is not None:
            answer["progress"] = self.progress
        return answer

    def load_collection(self, collection, timeout):
        self.loads += 1

    def query(self, **kwargs):
        if self.down:
            raise Outage()
        return []


class Outage(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE


def policy(uri: str, client: Client) -> tuple[ReadConsistency, Connection]:
    conn = Connection(uri, "images", timeout=1, reload_timeout=2)
    conn.client = client
    return ReadConsistency(conn), conn


def test_lite_reads_are_session_but_after_a_delete_or_foreign_writes():
    reads, _ = policy("./milvus.db", Client())
    assert not reads.stale
    assert reads.read_options() == {}
    reads.strong_next_read()
    assert reads.stale
    assert reads.read_options() == STRONG
    assert reads.read_options() == {}  # only the next one
    assert not reads.stale


def test_a_server_is_read_strong_until_a_strong_read_came_back():
    client = Client()
    reads, conn = policy("http://milvus:19530", client)
    assert reads.stale
    assert reads.read_options() == STRONG
    assert reads.read_options() == STRONG  # every read, from every thread, until one comes back
    conn.call(client.query, **reads.read_options())
    assert not reads.stale and reads.read_options() == {}

    client.down = True  # lost it: catch up again once it is back
    with pytest.raises(StoreUnavailable):
        conn.call(client.query, **reads.read_options())
    assert reads.stale and reads.read_options() == STRONG
    client.down = False
    conn.call(client.query, **reads.read_options())
    assert reads.read_options() == {}


def test_losing_a_lite_connection_needs_no_catching_up():
    client = Client()
    client.down = True
    reads, conn = policy("./milvus.db", client)
    with pytest.raises(StoreUnavailable):
        conn.call(client.query)
    assert not reads.stale


def test_a_collection_the_server_forgot_is_loaded():
    client = Client(state="NotLoad")
    reads, _ = policy("http://milvus:19530", client)
    assert reads.read_options() == STRONG
    assert client.loads == 1


@pytest.mark.parametrize(("progress", "tail"), [(40, " (40%)"), (None, "")])
def test_a_collection_still_loading_is_unavailable_not_empty(progress, tail):
    client = Client(state="Loading", progress=progress)
    reads, _ = policy("http://milvus:19530", client)
    with pytest.raises(StoreUnavailable) as err:
        reads.read_options()
    assert err.value.detail == f"Milvus at http://milvus:19530 is still loading collection 'images'{tail}"
    assert reads.stale  # still catching up
