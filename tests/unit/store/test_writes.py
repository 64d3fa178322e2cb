"""Writes: request sizes, dedup, the server read-back (now or deferred), lost writes, deletes.

A stand-in server client keeps rows in a dict and can drop or refuse writes; the writer's
logic around it is what is tested. Lite's on-disk check and a full disk are in
tests/integration/store/test_data_safety.py; real upserts on both backends in
tests/integration/store/test_image_store.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from clipvec.errors import StorageFull, StoreUnavailable
from clipvec.store.connection import Connection
from clipvec.store.consistency import ReadConsistency
from clipvec.store.records import ImageRecord, row_bytes
from clipvec.store.writes import BATCH_BYTES, BATCH_ROWS, Writer

DIM = 8


class Server:
    """Stand-in client: ``upsert`` stores rows unless told to lose or refuse them."""

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}
        self.requests: list[list[dict]] = []
        self.deletes: list[str] = []
        self.queries: list[dict] = []
        self.lose: set[str] = set()
        self.refuse: Exception | None = None

    def upsert(self, collection, batch, timeout):
        if self.refuse is not None:
            raise self.refuse
        self.requests.append(batch)
        self.rows.update({r["content_hash"]: r for r in batch if r["content_hash"] not in self.lose})

    def query(self, collection, filter, output_fields, timeout, **options):
        self.queries.append({"filter": filter, **options})
        keys = re.findall(r'"([^"]*)"', filter)
        return [{"content_hash": k} for k in keys if k in self.rows]

    def delete(self, collection, filter, timeout):
        for key in re.findall(r'"([^"]*)"', filter):
            self.deletes.append(key)
            self.rows.pop(key, None)


def writer(server: Server, *, verify: bool = True) -> tuple[Writer, ReadConsistency]:
    conn = Connection("http://milvus:19530", "images", timeout=1, reload_timeout=1)
    conn.client = server
    reads = ReadConsistency(conn)
    conn.call(server.query, "images", filter="", output_fields=[], consistency_level="Strong")
    server.queries.clear()  # the server has caught up: reads are Session from here
    return Writer(conn, reads, dim=DIM, model_name="m", verify=verify), reads


def records(n: int, *, start: int = 0, paths: int = 1) -> list[ImageRecord]:
    return [
        ImageRecord(f"h{i}", [f"p{i}/{k}.png" for k in range(paths)], 1, 1.0, 1, 1, "PNG", np.ones(DIM))
        for i in range(start, start + n)
    ]


def test_requests_are_at_most_512_rows():
    server = Server()
    w, _ = writer(server, verify=False)
    w.upsert(records(1300))
    assert [len(r) for r in server.requests] == [BATCH_ROWS, BATCH_ROWS, 276] and BATCH_ROWS == 512
    assert len(server.rows) == 1300 and server.queries == []  # verify off: nothing read back


def test_requests_are_about_one_mib():
    server = Server()
    w, _ = writer(server, verify=False)
    many_paths = [
        ImageRecord(f"h{i}", [f"{i}/{k}/" + "x" * 1000 for k in range(10)], 1, 1.0, 1, 1, "PNG", np.ones(DIM))
        for i in range(300)
    ]  # ~11 KB a row: ~93 rows per MiB
    w.upsert(many_paths)
    sizes = [sum(row_bytes(r, DIM) for r in request) for request in server.requests]
    assert len(server.requests) == 4 and sum(len(r) for r in server.requests) == 300
    assert all(size <= BATCH_BYTES for size in sizes) and BATCH_BYTES == 1 << 20
    for size, following in zip(sizes[:-1], server.requests[1:], strict=True):  # each as full as it could be
        assert size + row_bytes(following[0], DIM) > BATCH_BYTES


def test_duplicate_keys_in_one_call_keep_the_last_in_its_place():
    server = Server()
    w, _ = writer(server)
    first, second, third = records(3)
    again = ImageRecord("h0", ["renamed.png"], 2, 2.0, 2, 2, "PNG", np.zeros(DIM))
    w.upsert([first, second, again, third])
    (request,) = server.requests
    assert [r["content_hash"] for r in request] == ["h1", "h0", "h2"]
    assert server.rows["h0"]["paths"] == ["renamed.png"]


def test_every_write_is_read_back_by_key():
    server = Server()
    w, _ = writer(server)
    w.upsert(records(3))
    assert server.queries == [{"filter": 'content_hash in ["h0","h1","h2"]'}]
    assert not w.failed


def test_a_lost_write_is_unavailable_and_marks_the_store():
    server = Server()
    server.lose = {"h1"}
    w, _ = writer(server)
    with pytest.raises(StoreUnavailable) as err:
        w.upsert(records(3))
    assert err.value.detail == (
        "Milvus at http://milvus:19530 did not store 1 records: 1 of 3 rows are not in the collection"
    )
    assert w.failed


def test_a_refused_write_says_why():
    server = Server()
    server.refuse = RuntimeError("disk quota exceeded: no space")
    w, _ = writer(server)
    with pytest.raises(StorageFull) as err:
        w.upsert(records(2))
    assert err.value.detail == (
        "Milvus at http://milvus:19530 has no space left: 2 records were not stored "
        "(disk quota exceeded: no space)"
    )
    assert err.value.status == 507 and w.failed

    server.refuse = RuntimeError("schema mismatch")
    w, _ = writer(server)
    with pytest.raises(StoreUnavailable, match="did not store 2 records: schema mismatch"):
        w.upsert(records(2))


def test_deferred_checks_are_confirmed_later():
    server = Server()
    server.lose = {"h4"}
    w, _ = writer(server)
    w.upsert(records(3), defer_check=True)  # no read-back before returning
    w.confirm()
    assert not w.failed
    w.upsert(records(3, start=3), defer_check=True)
    with pytest.raises(StoreUnavailable, match="1 rows written earlier are not in the collection"):
        w.upsert(records(1, start=9))  # the next upsert confirms the earlier ones first
    assert w.failed
    w.close()


def test_delete_counts_what_existed_and_makes_the_next_read_strong():
    server = Server()
    w, reads = writer(server, verify=False)
    w.upsert(records(4))
    assert not reads.stale
    assert w.delete(["h1", "h1", "nope", "h3"]) == 2
    assert server.deletes == ["h1", "h3"] and sorted(server.rows) == ["h0", "h2"]
    assert server.queries == [{"filter": 'content_hash in ["h1","nope","h3"]'}]
    assert reads.read_options() == {"consistency_level": "Strong"}
    assert w.delete(["nope"]) == 0 and not reads.stale  # nothing deleted: Session is enough


def test_deletes_are_asked_in_chunks():
    server = Server()
    w, _ = writer(server, verify=False)
    w.upsert(records(2500))
    assert w.delete([f"h{i}" for i in range(2500)]) == 2500
    assert len(server.queries) == 3  # 1000 keys per "content_hash in [...]" on a server
