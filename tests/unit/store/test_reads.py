"""Reads: the requests they make (filters, fields, pages, chunks) and iterator hygiene.

A stand-in client answers from a list of rows; paging through real collections of
thousands of records, on Lite and the server, is in tests/integration/store/test_image_store.py.
"""

from __future__ import annotations

import pytest

from clipvec.store.connection import Connection
from clipvec.store.consistency import ReadConsistency
from clipvec.store.reads import VECTOR_PAGE, Reader
from clipvec.store.records import MAX_TOP_K

FIELDS = {"size": 1, "mtime": 1.0, "width": 1, "height": 1, "format": "PNG"}
ROWS = [{"content_hash": f"h{i}", "path": f"{name}.png", **FIELDS} for i, name in enumerate("abc")]
COPIES = [{"content_hash": "h1", "paths": ["b.png", "copy/b.png"]}]


class Pages:
    """A query iterator: ``rows`` in pages of ``size``; remembers being closed."""

    def __init__(self, rows: list[dict], size: int) -> None:
        self.pages = [rows[i : i + size] for i in range(0, len(rows), size)]
        self.closed = False

    def next(self) -> list[dict]:
        return self.pages.pop(0) if self.pages else []

    def close(self) -> None:
        self.closed = True


class Client:
    def __init__(self, *, fail_second_iterator: bool = False) -> None:
        self.queries: list[dict] = []
        self.iterators: list[tuple[dict, Pages]] = []
        self.fail_second_iterator = fail_second_iterator

    def query(self, collection, **kwargs):
        self.queries.append(kwargs)
        if kwargs["output_fields"] == ["count(*)"]:
            return [{"count(*)": 3}]
        return [dict(r) for r in ROWS if f'"{r["content_hash"]}"' in kwargs["filter"]]

    def get_load_state(self, collection, timeout):
        return {"state": type("State", (), {"name": "Loaded"})()}

    def query_iterator(self, collection, **kwargs):
        if self.iterators and self.fail_second_iterator:
            raise RuntimeError("too many iterators")
        pages = Pages(COPIES if kwargs["filter"] else ROWS, kwargs["batch_size"])
        self.iterators.append((kwargs, pages))
        return pages


def reader(client: Client, uri: str = "./milvus.db") -> tuple[Reader, ReadConsistency]:
    conn = Connection(uri, "images", timeout=1, reload_timeout=1)
    conn.client = client
    reads = ReadConsistency(conn)
    return Reader(conn, reads), reads


def test_count_counts_rows_with_an_always_true_filter():
    client = Client()
    r, _ = reader(client)
    assert r.count() == 3
    assert client.queries == [{"filter": 'content_hash != ""', "output_fields": ["count(*)"], "timeout": 1}]


def test_get_asks_in_chunks_without_repeats():
    client = Client()
    r, _ = reader(client)
    wanted = ["h0", "h0", *(f"x{i}" for i in range(250)), "h2"]
    found = r.get(wanted)
    assert sorted(found) == ["h0", "h2"] and found["h0"].paths == ["a.png"]
    assert len(client.queries) == 2  # 252 distinct keys, 200 per query on Lite
    assert "vector" not in client.queries[0]["output_fields"]
    r.get(["h0"], with_vectors=True)
    assert client.queries[-1]["output_fields"][-1] == "vector"


@pytest.mark.parametrize("path", ["", "a\nb.png", "tab\t.png"])
def test_get_by_path_needs_no_query_for_what_cannot_be_stored(path):
    client = Client()
    r, _ = reader(client)
    assert r.get_by_path(path) is None
    assert client.queries == []


def test_get_by_path_is_an_exact_array_match():
    client = Client()
    r, _ = reader(client)
    assert r.get_by_path('say "hi".png') is None
    assert client.queries[0]["filter"] == 'array_contains(paths, "say \\"hi\\".png")'
    assert client.queries[0]["limit"] == 1


def test_iter_records_reads_paths_only_for_copies():
    client = Client()
    r, _ = reader(client)
    records = {rec.content_hash: rec.paths for rec in r.iter_records(batch=2)}
    assert records == {"h0": ["a.png"], "h1": ["b.png", "copy/b.png"], "h2": ["c.png"]}
    (everything, all_pages), (copies, copy_pages) = client.iterators
    assert "paths" not in everything["output_fields"] and everything["filter"] == ""
    assert copies == {
        "batch_size": 2,
        "filter": 'paths[1] != ""',
        "output_fields": ["content_hash", "paths"],
        "timeout": 1,
    }
    assert all_pages.closed and copy_pages.closed


@pytest.mark.parametrize(
    ("uri", "with_vectors", "batch", "pages"),
    [
        ("./milvus.db", False, None, (MAX_TOP_K, 200)),
        ("./milvus.db", True, None, (VECTOR_PAGE, 200)),
        ("./milvus.db", True, 150, (150, 150)),
        ("http://milvus:19530", False, None, (MAX_TOP_K, MAX_TOP_K)),
        ("http://milvus:19530", True, 10**9, (VECTOR_PAGE, MAX_TOP_K)),
        ("http://milvus:19530", False, 0, (1, 1)),
    ],
)
def test_iter_records_page_sizes(uri, with_vectors, batch, pages):
    client = Client()
    r, reads = reader(client, uri)
    r.count()  # the first read on a server is Strong: it has caught up after it
    assert not reads.stale
    list(r.iter_records(with_vectors=with_vectors, batch=batch))
    assert tuple(kwargs["batch_size"] for kwargs, _ in client.iterators) == pages


def test_iter_records_reads_strong_first_when_stale():
    client = Client()
    r, reads = reader(client)
    list(r.iter_records())
    assert client.queries == []  # Session is fine
    reads.strong_next_read()
    list(r.iter_records())
    assert client.queries[0]["output_fields"] == ["count(*)"]
    assert client.queries[0]["consistency_level"] == "Strong"


def test_the_first_iterator_is_closed_when_the_second_fails():
    client = Client(fail_second_iterator=True)
    r, _ = reader(client)
    with pytest.raises(RuntimeError, match="too many iterators"):
        list(r.iter_records())
    ((_, first),) = client.iterators
    assert first.closed


def test_an_iterator_is_closed_when_the_reader_stops_early():
    client = Client()
    r, _ = reader(client)
    records = r.iter_records(batch=1)
    assert next(records).content_hash == "h0"
    records.close()
    assert all(pages.closed for _, pages in client.iterators)
