"""ImageStore against Milvus Lite 2.5.1 and the real Milvus 2.3.5 server (no mocks, no model)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from milvus_fixtures import raw_client
from procs import free_port

from clipvec.errors import ModelMismatch, StoreLocked, StoreUnavailable
from clipvec.store import PATHS_KEPT, Hit, ImageRecord, ImageStore

MODEL = "test/random-clip"  # as in conftest.make_store
DIM = 512


def unit_vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_records(n: int, *, dim: int = DIM, seed: int = 0, prefix: str = "img") -> list[ImageRecord]:
    vectors = unit_vectors(n, dim, seed)
    return [
        ImageRecord(
            content_hash=f"{seed:04d}{i:060x}",
            paths=[f"{prefix}/{i:05d}.jpg"],
            size=1000 + i,
            mtime=1_700_000_000.5 + i,
            width=640 + i % 7,
            height=480,
            format="JPEG",
            vector=vectors[i],
        )
        for i in range(n)
    ]


def with_path(record: ImageRecord, *paths: str) -> ImageRecord:
    return dataclasses.replace(record, paths=list(paths))


# ---------------------------------------------------------------------- open / reopen
def test_create_then_reopen(make_store, milvus_backend):
    store = make_store()
    assert store.count() == 0
    assert store.metric == "COSINE" and store.higher_is_better
    assert store.index_type == ("FLAT" if milvus_backend.is_lite else "HNSW")
    store.upsert(make_records(3))
    store.close()
    again = make_store()
    assert again.count() == 3
    assert again.index_type == store.index_type
    assert len(again.search(unit_vectors(1)[0], top_k=3)) == 3  # loaded after reopen


def test_reopen_with_other_model_dim_or_metric_is_refused(make_store, milvus_backend):
    make_store().close()
    with pytest.raises(ModelMismatch) as err:
        make_store(model_name="other/model")
    assert "'test/random-clip'" in err.value.detail and "'other/model'" in err.value.detail
    assert err.value.status == 409
    with pytest.raises(ModelMismatch) as err:  # a local folder: clients are told its name only
        make_store(model_name="/home/x/models/other-clip")
    public = err.value.public_detail
    assert "'other-clip'" in public and "'test/random-clip'" in public
    assert "/home/x" not in public and milvus_backend.uri not in public
    with pytest.raises(ModelMismatch, match="dim 512.*dim 768"):
        make_store(dim=768)
    with pytest.raises(ModelMismatch, match="COSINE.*L2"):
        make_store(metric="L2")
    assert make_store().count() == 0  # the collection itself is untouched


def test_the_same_weights_match_under_any_name_other_weights_never(make_store):
    """Issue 22.3: a collection knows its model by content (``model_id``), not by folder or hub id."""
    make_store(model_name="/old/place/clip", model_id="sha256:aaa").close()
    moved = make_store(model_name="/new/place/clip", model_id="sha256:aaa")  # the folder moved
    assert moved.count() == 0
    moved.close()
    make_store(model_name="openai/clip-vit-base-patch32", model_id="sha256:aaa").close()  # its hub id
    with pytest.raises(ModelMismatch) as err:  # the same folder, other weights: refused
        make_store(model_name="/old/place/clip", model_id="sha256:bbb")
    assert err.value.status == 409


def test_a_collection_made_before_content_ids_is_recognised_by_name(make_store):
    make_store().close()  # recorded the name only, as clipvec did before content ids
    asked: list[str] = []

    def recognises(stored: str) -> bool:
        asked.append(stored)
        return stored == MODEL

    make_store(model_name="/a/downloaded/copy", model_id="sha256:aaa", recognises=recognises).close()
    assert asked == [MODEL]
    with pytest.raises(ModelMismatch):
        make_store(model_name="/a/downloaded/copy", model_id="sha256:aaa", recognises=lambda stored: False)
    make_store(model_id="sha256:whatever").close()  # the same name still matches


def test_foreign_collection_is_refused(make_store, milvus_backend):
    client = raw_client(milvus_backend.uri)
    client.create_collection(milvus_backend.collection, dimension=DIM)
    with pytest.raises(ModelMismatch, match="not created by clipvec"):
        make_store()


# ---------------------------------------------------------------------- writes / reads
def test_upsert_get_count_exact(make_store):
    store = make_store()
    records = make_records(20)
    records[0] = with_path(records[0], 'dir with "quotes"/ä ö/😀.png', "copy/of/it.png")
    records[1] = dataclasses.replace(records[1], format="WEBP", width=1, height=65535, size=2**40)
    store.upsert(records)
    assert store.count() == 20

    wanted = [records[0].content_hash, records[1].content_hash, "f" * 64]
    got = store.get(wanted)
    assert set(got) == set(wanted[:2])
    for original in records[:2]:
        back = got[original.content_hash]
        assert back.vector is None
        assert dataclasses.replace(back, vector=None) == dataclasses.replace(original, vector=None)
        assert back.path == original.paths[0]

    full = store.get([r.content_hash for r in records], with_vectors=True)
    assert len(full) == 20
    for original in records:
        np.testing.assert_allclose(full[original.content_hash].vector, original.vector, rtol=0, atol=1e-6)
        assert full[original.content_hash].vector.dtype == np.float32


def test_get_by_path_is_exact(make_store):
    store = make_store()
    records = make_records(4)
    records[0] = with_path(records[0], 'dir with "quotes"/ä ö/😀.png', "copy/of/it.png")
    store.upsert(records)
    assert store.get_by_path("copy/of/it.png").content_hash == records[0].content_hash
    assert store.get_by_path('dir with "quotes"/ä ö/😀.png').content_hash == records[0].content_hash
    assert store.get_by_path(records[3].paths[0]).content_hash == records[3].content_hash
    for missing in ("copy/of", "copy/of/it.pn", "img/%", "", "img/00001.jpg\x00", 'x" || true || "'):
        assert store.get_by_path(missing) is None, missing


def test_get_by_path_with_a_hash_prefix_finds_every_name(make_store):
    """Names no filter can carry (control characters) are found through their record's hash (issue 21.10)."""
    store = make_store()
    records = [  # hashes as the importer makes them (sha256), so prefixes tell records apart
        dataclasses.replace(r, content_hash=hashlib.sha256(r.content_hash.encode()).hexdigest())
        for r in make_records(4)
    ]
    hostile = ["new\nline.png", "\tlead/tab.png", "del\x7f.png", "back\\\\slash \\xff.png"]
    records[1] = with_path(records[1], *hostile[:2])
    records[2] = with_path(records[2], *hostile[2:])
    store.upsert(records)
    for record in records[1:3]:
        for path in record.paths:
            for prefix in (record.content_hash[:8], record.content_hash[:16], record.content_hash):
                found = store.get_by_path(path, hash_prefix=prefix)
                assert found is not None and found.content_hash == record.content_hash, (path, prefix)
    # a wrong or malformed hint finds nothing a filter could not find
    assert store.get_by_path("new\nline.png", hash_prefix=records[2].content_hash[:16]) is None
    assert store.get_by_path("new\nline.png") is None
    assert store.get_by_path(hostile[3]).content_hash == records[2].content_hash
    for bad in ("", "0000", records[1].content_hash[:16].upper(), '" or true or "'):
        assert store.get_by_path("new\nline.png", hash_prefix=bad) is None, bad
    assert (
        store.get_by_path(records[0].paths[0], hash_prefix="f" * 16).content_hash == records[0].content_hash
    )


def test_search_can_exclude_one_record(make_store):
    """ "More like this" leaves out its example and still returns top_k hits (issue 22.10)."""
    store = make_store()
    records = make_records(6)
    store.upsert(records)
    query = records[2].vector
    assert store.search(query, top_k=3)[0].content_hash == records[2].content_hash
    hits = store.search(query, top_k=3, exclude=records[2].content_hash)
    assert len(hits) == 3 and records[2].content_hash not in {h.content_hash for h in hits}
    narrowed = store.search(query, top_k=6, path_prefix="img/", exclude=records[2].content_hash)
    assert len(narrowed) == 5


def test_upsert_same_key_replaces(make_store):
    store = make_store()
    records = make_records(5)
    store.upsert(records)
    changed = dataclasses.replace(
        records[2], paths=["renamed.jpg", "second.jpg"], mtime=5.0, vector=-records[2].vector
    )
    # the same key twice in one call: the last one wins, and only one row is stored
    store.upsert([with_path(records[2], "ignored.jpg"), changed])
    assert store.count() == 5
    back = store.get([records[2].content_hash], with_vectors=True)[records[2].content_hash]
    assert back.paths == ["renamed.jpg", "second.jpg"] and back.mtime == 5.0
    np.testing.assert_allclose(back.vector, -records[2].vector, atol=1e-6)
    hits = store.search(-records[2].vector, top_k=1)
    assert hits[0].content_hash == records[2].content_hash and hits[0].path == "renamed.jpg"


def test_delete_then_count_and_search(make_store):
    store = make_store()
    records = make_records(10)
    store.upsert(records)
    gone = [records[0].content_hash, records[1].content_hash]
    assert store.delete([*gone, "0" * 64, gone[0]]) == 2  # missing and repeated keys are not counted
    assert store.count() == 8
    assert store.get(gone) == {}
    hits = store.search(records[0].vector, top_k=10)
    assert len(hits) == 8 and not {h.content_hash for h in hits} & set(gone)
    assert store.delete([]) == 0 and store.delete(gone) == 0


def test_bad_records_are_refused(make_store):
    store = make_store()
    record = make_records(1)[0]
    with pytest.raises(ValueError, match="dimensions"):
        store.upsert([dataclasses.replace(record, vector=np.ones(3, np.float32))])
    with pytest.raises(ValueError, match="no vector"):
        store.upsert([dataclasses.replace(record, vector=None)])
    with pytest.raises(ValueError, match="no path"):
        store.upsert([dataclasses.replace(record, paths=[])])
    with pytest.raises(ValueError, match="content_hash"):
        store.upsert([dataclasses.replace(record, content_hash="x" * 65)])
    assert store.count() == 0


# ---------------------------------------------------------------------- search
@pytest.mark.parametrize("metric", ["COSINE", "L2"])
def test_search_nearest_first_with_metric_direction(make_store, milvus_backend, metric):
    store = make_store(collection=f"{milvus_backend.collection}_{metric.lower()}", metric=metric)
    assert store.higher_is_better is (metric == "COSINE")
    records = make_records(300, seed=3)
    store.upsert(records)
    target = records[123]
    query = target.vector + 0.05 * unit_vectors(1, seed=99)[0]
    query /= np.linalg.norm(query)
    hits = store.search(query, top_k=5)
    assert len(hits) == 5 and all(isinstance(h, Hit) for h in hits)
    assert hits[0].content_hash == target.content_hash and hits[0].path == target.paths[0]
    assert (hits[0].size, hits[0].width, hits[0].height, hits[0].format) == (
        target.size,
        target.width,
        target.height,
        "JPEG",
    )
    scores = [h.score for h in hits]
    if metric == "COSINE":
        assert scores == sorted(scores, reverse=True)
        assert scores[0] == pytest.approx(float(query @ target.vector), abs=1e-4)
    else:  # Milvus reports the squared L2 distance
        assert scores == sorted(scores)
        assert scores[0] == pytest.approx(float(np.sum((query - target.vector) ** 2)), abs=1e-4)
    json.dumps(dataclasses.asdict(hits[0]))  # hits serialise as they are

    # min_score follows the metric: a minimum similarity, or a maximum (squared) distance
    exact = records[7].vector
    only_self = store.search(exact, top_k=10, min_score=0.99 if metric == "COSINE" else 0.01)
    assert [h.content_hash for h in only_self] == [records[7].content_hash]
    everything = store.search(exact, top_k=10, min_score=-1.0 if metric == "COSINE" else 4.0)
    assert len(everything) == 10  # unit vectors: cosine >= -1, squared distance <= 4
    if metric == "COSINE":
        assert store.search(-exact, top_k=10, min_score=0.99) == []


TRICKY_PATHS = [
    'a"b/1.jpg',
    'a"b/2.jpg',
    "a\\b/1.jpg",
    "a%b/1.jpg",
    "a_b/1.jpg",
    "aXb/1.jpg",
    "a'b/1.jpg",
    "ä/ü/1.jpg",
    "😀/1.jpg",
    "new\nline/1.jpg",
    "plain/1.jpg",
    "plain2/1.jpg",
]


PREFIX_CASES = [
    ('a"b', ['a"b/1.jpg', 'a"b/2.jpg']),
    ("a\\b", ["a\\b/1.jpg"]),
    ("a%b", ["a%b/1.jpg"]),  # % is no wildcard
    ("a_b", ["a_b/1.jpg"]),  # nor is _
    ("a'b", ["a'b/1.jpg"]),
    ("ä/", ["ä/ü/1.jpg"]),
    ("😀", ["😀/1.jpg"]),
    ("new\nline/", ["new\nline/1.jpg"]),  # control character: checked on the client
    ("plain/", ["plain/1.jpg"]),
    ("nothing", []),
    ('" or path != "', []),  # no injection
    ("a", [p for p in TRICKY_PATHS if p.startswith("a")]),
]


def test_path_prefix_is_exact(make_store):
    store = make_store()
    records = make_records(len(TRICKY_PATHS), seed=7)
    store.upsert([with_path(r, p, "other/copy.jpg") for r, p in zip(records, TRICKY_PATHS, strict=True)])
    for prefix, expected in PREFIX_CASES:
        hits = store.search(records[0].vector, top_k=20, path_prefix=prefix)
        assert sorted(h.path for h in hits) == sorted(expected), prefix
        assert all(h.paths == [h.path, "other/copy.jpg"] for h in hits)
    assert len(store.search(records[0].vector, top_k=20, path_prefix="")) == len(TRICKY_PATHS)
    assert len(store.search(records[0].vector, top_k=2, path_prefix="a")) == 2


# ---------------------------------------------------------------------- volume
def test_iter_records_pages_through_everything(make_store):
    store = make_store()
    records = make_records(2500, seed=11)
    # copies of one image: records with 2 to 4 paths, spread over several pages
    records = [
        with_path(r, *r.paths, *(f"copy{k}/{i}.jpg" for k in range(i % 4))) if i % 9 == 0 else r
        for i, r in enumerate(records)
    ]
    store.upsert(records)
    seen = {r.content_hash: r.paths for r in store.iter_records(batch=150)}
    assert seen == {r.content_hash: r.paths for r in records}
    assert seen == {r.content_hash: r.paths for r in store.iter_records()}  # one full page
    some = list(store.iter_records(with_vectors=True, batch=700))
    assert len(some) == 2500
    by_hash = {r.content_hash: r for r in records}
    for record in some[::250]:
        np.testing.assert_allclose(record.vector, by_hash[record.content_hash].vector, atol=1e-6)
        assert record.paths == by_hash[record.content_hash].paths


def test_large_upsert_is_batched(make_store):
    store = make_store()
    records = make_records(5000, seed=13)
    records[0] = with_path(records[0], *(f"dup/{i:04d}/" + "x" * 200 + ".jpg" for i in range(2000)))
    store.upsert(records)  # ~11 MB: one request would be far too big for Lite
    assert store.count() == 5000
    # the first PATHS_KEPT (100) of its 2000 paths are kept: a record stays small
    assert len(store.get([records[0].content_hash])[records[0].content_hash].paths) == PATHS_KEPT
    hits = store.search(records[4321].vector, top_k=1)
    assert hits[0].content_hash == records[4321].content_hash


# ---------------------------------------------------------------------- unavailable
def test_unavailable_store_is_reported(milvus_backend, tmp_path):
    if milvus_backend.is_lite:
        # A Lite file is open in another process (several workers on one file).
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(
                    f"""
                    import sys, time
                    from clipvec.store import ImageStore
                    s = ImageStore({milvus_backend.uri!r}, model_name="m", dim=4)
                    print("open", flush=True)
                    sys.stdin.read()
                    """
                ),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "open"
            with pytest.raises(StoreLocked) as err:
                ImageStore(milvus_backend.uri, model_name="m", dim=4, connect_timeout=2)
        finally:
            holder.communicate("", timeout=30)
        assert "one process" in err.value.detail
    else:
        uri = f"http://127.0.0.1:{free_port()}"
        with pytest.raises(StoreUnavailable) as err:
            ImageStore(uri, model_name="m", dim=4, connect_timeout=1)
    assert err.value.status == 503
    assert milvus_backend.uri in err.value.detail or "127.0.0.1" in err.value.detail


@pytest.mark.server
def test_server_down_then_back(milvus_private_server):
    server = milvus_private_server
    store = ImageStore(server.uri, model_name=MODEL, dim=DIM, timeout=3, connect_timeout=3)
    try:
        records = make_records(20, seed=17)
        store.upsert(records)
        assert store.count() == 20
        t0 = time.perf_counter()
        server.stop()
        print(f"stopped in {time.perf_counter() - t0:.1f}s")
        t0 = time.perf_counter()
        with pytest.raises(StoreUnavailable, match=server.uri):
            store.count()
        with pytest.raises(StoreUnavailable):
            store.search(records[0].vector)
        # A bound on a clock because the behaviour is one: a dead server costs about the store
        # timeout (3 s) per call, not a wait on pymilvus' own retries; 20 s is a loaded machine's margin.
        assert time.perf_counter() - t0 < 20
        print(f"errors in {time.perf_counter() - t0:.1f}s")
        server.start()
        print(f"restarted in {server.start_seconds:.1f}s")
        t0 = time.perf_counter()
        deadline = time.monotonic() + 60
        while True:  # the same store object recovers once Milvus has reloaded the collection
            try:
                assert store.count() == 20
                break
            except StoreUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        print(f"count back in {time.perf_counter() - t0:.1f}s")
        assert store.search(records[3].vector, top_k=1)[0].content_hash == records[3].content_hash
    finally:
        store.close()


def test_opening_a_store_runs_pymilvus_scipy_check_before_any_request(tmp_path):
    """pymilvus imports scipy.sparse by hand, unlocked, at a process's first search or insert:
    concurrent first requests of a fresh service got 500s (KeyError 'scipy.sparse'). The
    store's open runs that check once, so no request thread does."""
    code = textwrap.dedent(
        f"""
        import sys
        from pymilvus.client.utils import SciPyHelper
        from clipvec.store import ImageStore

        assert not SciPyHelper._checked
        with ImageStore({str(tmp_path / "m.db")!r}, collection="c", model_name="m", dim=4):
            print(SciPyHelper._checked)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "True"
