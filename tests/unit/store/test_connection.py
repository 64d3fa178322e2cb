"""The connection: the one call wrapper, Lite file names (which errors are outages: test_outages.py).

The call wrapper is exercised with a stand-in client (plain Python callables): what is
tested is our wrapper (timeout, reload-and-retry once, the outage hooks), not Milvus; the
real server outage is in tests/integration/store/test_image_store.py.
"""

from __future__ import annotations

import grpc
import pytest
from milvus_errors import SERVICE_NOT_READY, RpcFailure, server_error
from pymilvus.exceptions import MilvusException

from clipvec.errors import StoreUnavailable
from clipvec.store.connection import (
    LITE_OPEN_HINT,
    Connection,
    existing_lite_file,
    new_lite_file,
)


# ---------------------------------------------------------------------- the call wrapper
class Client:
    """Stand-in client: counts loads; ``fail`` raises the queued errors, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.loads: list[tuple[str, float]] = []
        self.seen: list[dict] = []

    def fail(self, *args, **kwargs):
        self.seen.append(kwargs)
        if self.errors:
            raise self.errors.pop(0)
        return ["answer", *args]

    def load_collection(self, name, timeout):
        self.loads.append((name, timeout))


def connection(client: Client | None, uri: str = "http://milvus:19530") -> tuple[Connection, list[str]]:
    conn = Connection(uri, "images", timeout=7.0, reload_timeout=11.0)
    conn.client = client
    events: list[str] = []
    conn.on_unavailable = lambda: events.append("lost")
    conn.on_strong_read = lambda: events.append("strong")
    return conn, events


def test_call_adds_the_store_timeout_unless_told():
    client = Client()
    conn, events = connection(client)
    assert conn.call(client.fail, "x") == ["answer", "x"]
    assert conn.call(client.fail, timeout=99) == ["answer"]
    assert conn.call(client.fail, with_timeout=False) == ["answer"]
    assert client.seen == [{"timeout": 7.0}, {"timeout": 99}, {}]
    assert events == []


def test_not_loaded_loads_and_retries_once():
    client = Client(MilvusException(code=101, message="collection not loaded"))
    conn, _ = connection(client)
    assert conn.call(client.fail) == ["answer"]
    assert client.loads == [("images", 11.0)] and len(client.seen) == 2

    twice = Client(*[MilvusException(code=101, message="collection not loaded")] * 2)
    conn, _ = connection(twice)
    with pytest.raises(MilvusException, match="not loaded"):
        conn.call(twice.fail)  # retried once only
    assert len(twice.seen) == 2 and len(twice.loads) == 1


def test_outage_is_store_unavailable_and_tells_the_listener():
    client = Client(RpcFailure(grpc.StatusCode.UNAVAILABLE, "gone"))
    conn, events = connection(client)
    with pytest.raises(StoreUnavailable) as err:
        conn.call(client.fail)
    assert err.value.detail.startswith("Milvus at http://milvus:19530 is unavailable: ")
    assert err.value.status == 503 and err.value.code == "store_unavailable"
    assert events == ["lost"]


def test_a_server_that_is_not_ready_is_store_unavailable():
    """Issue 21 item 5: Milvus 2.3.5 after an etcd outage; was a 500 on /add_image and search."""
    client = Client(server_error(**SERVICE_NOT_READY))
    conn, events = connection(client)
    with pytest.raises(StoreUnavailable, match="service not ready"):
        conn.call(client.fail)
    assert events == ["lost"]


def test_request_errors_pass_through_unchanged():
    client = Client(ValueError("bad filter"))
    conn, events = connection(client)
    with pytest.raises(ValueError, match="bad filter"):
        conn.call(client.fail)
    assert events == []


def test_a_strong_read_that_came_back_is_reported():
    client = Client(RpcFailure(grpc.StatusCode.UNAVAILABLE))
    conn, events = connection(client)
    with pytest.raises(StoreUnavailable):
        conn.call(client.fail, consistency_level="Strong")
    conn.call(client.fail, consistency_level="Strong")
    conn.call(client.fail, consistency_level="Session")
    assert events == ["lost", "strong"]


def test_a_closed_connection_says_so():
    conn, _ = connection(None)
    with pytest.raises(StoreUnavailable, match="the store for http://milvus:19530 is closed"):
        conn.call(lambda: None)
    conn.close()  # closing twice is fine
    conn.close()


def test_closing_never_fails():
    class Broken:
        def close(self):
            raise RuntimeError("already gone")

    conn, _ = connection(Broken())  # type: ignore[arg-type]
    conn.close()
    assert conn.client is None


# ---------------------------------------------------------------------- opening
def test_a_server_that_is_not_there_is_unavailable():
    conn = Connection("http://127.0.0.1:1", "images", timeout=1, reload_timeout=1)
    with pytest.raises(StoreUnavailable) as err:
        conn.open("", 0.5, hint=" (hint)")
    assert err.value.detail.startswith("cannot open Milvus at http://127.0.0.1:1: ")
    assert err.value.detail.endswith(" (hint)")
    assert conn.client is None and conn.lite_path is None


def test_kind_follows_the_location_rule():
    assert Connection("./milvus.db", "c", timeout=1, reload_timeout=1).is_lite
    assert not Connection("http://h:19530", "c", timeout=1, reload_timeout=1).is_lite
    assert not Connection("unix:/run/milvus.sock", "c", timeout=1, reload_timeout=1).is_lite


def test_a_new_lite_file_gets_its_folder(tmp_path):
    db = new_lite_file(str(tmp_path / "a" / "b" / "milvus.db"))
    assert db == tmp_path / "a" / "b" / "milvus.db" and db.parent.is_dir() and not db.exists()


def test_a_lite_file_must_end_in_db(tmp_path):
    with pytest.raises(StoreUnavailable, match="is neither a server URI .* must end in .db"):
        new_lite_file(str(tmp_path / "milvus.sqlite"))
    assert list(tmp_path.iterdir()) == []


def test_a_lite_folder_that_cannot_be_made_is_unavailable(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreUnavailable, match="cannot create the folder for Milvus Lite file"):
        new_lite_file(str(tmp_path / "file" / "milvus.db"))


def test_a_lite_file_to_drop_must_exist(tmp_path):
    with pytest.raises(StoreUnavailable, match="there is no Milvus Lite file"):
        existing_lite_file(str(tmp_path / "none.db"))
    (tmp_path / "there.db").write_bytes(b"")
    assert existing_lite_file(str(tmp_path / "there.db")) == tmp_path / "there.db"


def test_the_lite_hint_names_the_ways_out():
    assert "one process only" in LITE_OPEN_HINT and "server URI" in LITE_OPEN_HINT
