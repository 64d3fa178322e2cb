"""Search: the path-prefix plan (range filter, client-side check) and the query checks.

Search results themselves (metric direction, min_score, tricky prefixes end to end) are in
tests/integration/store/test_image_store.py, on Lite and the server.
"""

from __future__ import annotations

import numpy as np
import pytest

from clipvec.store.connection import Connection
from clipvec.store.consistency import ReadConsistency
from clipvec.store.nearest import Nearest, prefix_plan
from clipvec.store.records import META_FIELDS


@pytest.mark.parametrize(
    ("prefix", "expr", "exact"),
    [
        (None, "", None),
        ("", "", None),
        ("a/b", 'path >= "a/b" and path < "a/c"', None),
        ('q"x', 'path >= "q\\"x" and path < "q\\"y"', None),
        # a range also holds "a~\x7f..." paths: the whole prefix is checked on the client
        ("a~", 'path >= "a~" and path < "a\x80"', "a~"),
        # not expressible in a Lite filter: narrow on the part before it, check the rest here
        ("new\nline/", 'path >= "new" and path < "nex"', "new\nline/"),
        ("dir/\x7fx", 'path >= "dir/" and path < "dir0"', "dir/\x7fx"),
        ("\x00start", "", "\x00start"),
    ],
)
def test_prefix_plan(prefix, expr, exact):
    assert prefix_plan(prefix) == (expr, exact)


class Client:
    """Stand-in client: a search answers the first ``limit`` of ``hits``; each request is recorded."""

    def __init__(self, hits: list[dict]) -> None:
        self.hits = hits
        self.calls: list[dict] = []

    def search(self, collection, **kwargs):
        self.calls.append(kwargs)
        return [self.hits[: kwargs["limit"]]]


def nearest(client: Client, metric: str = "COSINE", version: int = 2) -> Nearest:
    conn = Connection("./milvus.db", "images", timeout=1, reload_timeout=1)
    conn.client = client
    return Nearest(conn, ReadConsistency(conn), dim=2, metric=metric, index_type="FLAT", version=version)


def hit(i: int, path: str, distance: float) -> dict:
    return {"id": f"h{i}", "distance": distance, "entity": {"path": path, "paths": [path]}}


@pytest.mark.parametrize(
    ("vector", "top_k", "message"),
    [
        ([1.0, 0.0, 0.0], 1, "query vector has 3 dimensions, the collection 2"),
        ([np.nan, 0.0], 1, "NaN or infinite"),
        ([1.0, 0.0], 0, "top_k must be between 1 and 16384"),
        ([1.0, 0.0], 16385, "top_k must be between 1 and 16384"),
    ],
)
def test_bad_queries_are_refused_before_searching(vector, top_k, message):
    client = Client([])
    with pytest.raises(ValueError, match=message):
        nearest(client).search(np.array(vector), top_k=top_k)
    assert client.calls == []


def test_a_client_checked_prefix_asks_for_more_until_enough_pass():
    # 40 hits, every 10th under the prefix: limits 8 (one passes) -> 32 (four pass)
    hits = [hit(i, ("new\nline/" if i % 10 == 0 else "new/") + f"{i}.png", 1 - i / 100) for i in range(40)]
    client = Client(hits)
    found = nearest(client).search(np.array([1.0, 0.0]), top_k=2, path_prefix="new\nline/")
    assert [h.path for h in found] == ["new\nline/0.png", "new\nline/10.png"]
    assert [c["limit"] for c in client.calls] == [8, 32]
    assert all(c["filter"] == 'path >= "new" and path < "nex"' for c in client.calls)

    # too few pass: 20 -> 80, where fewer hits came back than asked for: that is all there is
    client = Client(hits)
    found = nearest(client).search(np.array([1.0, 0.0]), top_k=5, path_prefix="new\nline/")
    assert [h.path for h in found] == [f"new\nline/{i}.png" for i in (0, 10, 20, 30)]
    assert [c["limit"] for c in client.calls] == [20, 80]


def test_min_score_follows_the_metric():
    hits = [hit(0, "a", 0.9), hit(1, "b", 0.5), hit(2, "c", 0.1)]
    query = np.array([1.0, 0.0])
    assert [h.path for h in nearest(Client(hits)).search(query, min_score=0.5)] == ["a", "b"]
    assert [h.path for h in nearest(Client(hits), "L2").search(query, min_score=0.5)] == ["b", "c"]


def test_search_request():
    client = Client([hit(0, "a", 0.9)])
    nearest(client).search(np.array([1, 0], dtype=np.int64), top_k=3)
    (call,) = client.calls
    assert call["data"] == [[1.0, 0.0]] and call["limit"] == 3 and call["filter"] == ""
    assert call["output_fields"] == ["path", "paths", "size", "width", "height", "format", *META_FIELDS]
    assert call["search_params"] == {"metric_type": "COSINE", "params": {}}
    assert call["anns_field"] == "vector" and "consistency_level" not in call


def test_a_version_1_collection_is_searched_without_the_metadata_columns():
    client = Client([hit(0, "a", 0.9)])
    (found,) = nearest(client, version=1).search(np.array([1, 0], dtype=np.float32), top_k=3)
    assert client.calls[0]["output_fields"] == ["path", "paths", "size", "width", "height", "format"]
    assert found.meta.taken is None and found.meta.camera == "" and found.meta.lat is None
