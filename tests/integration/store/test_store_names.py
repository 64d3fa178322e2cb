"""Adding names to one content at once keeps every name (issue 21 item 4), on Milvus Lite and a 2.3.5 server.

``ImageStore.add_name`` is what ``POST /add_image`` uses: the per-hash lock makes it atomic
within a process, the read-back (and a second look on a server) across processes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from milvus_fixtures import drop_collections, unique_collection

from clipvec.store import PATHS_KEPT, ImageRecord, ImageStore

MODEL = "test/random-clip"  # as in store_fixtures.make_store
DIM = 512
KEY = "ab" * 32


def content(key: str = KEY) -> ImageRecord:
    vector = np.random.default_rng(7).standard_normal(DIM).astype(np.float32)
    vector /= np.linalg.norm(vector)
    return ImageRecord(key, ["ignored.png"], 1234, 1_700_000_000.5, 64, 48, "PNG", vector)


def test_names_added_by_threads_at_once_are_all_kept_and_one_created(make_store):
    store = make_store()
    names = [f"uploads/{KEY[:16]}-n{i}.png" for i in range(8)]
    start = threading.Barrier(len(names))

    def add(name: str):
        start.wait()
        return store.add_name(content(), name)

    with ThreadPoolExecutor(len(names)) as pool:
        added = list(pool.map(add, names))
    assert all(a.listed for a in added)
    assert sum(a.created for a in added) == 1
    assert sorted(store.get([KEY])[KEY].paths) == sorted(names)
    assert store.count() == 1


def test_a_name_already_listed_and_names_beyond_the_limit_are_not_written(make_store):
    store = make_store()
    first = store.add_name(content(), "a.png")
    again = store.add_name(content(), "a.png")
    assert (first.created, first.listed, again.created, again.listed) == (True, True, False, True)
    store.upsert([ImageRecord(**{**content().__dict__, "paths": [f"p{i}.png" for i in range(PATHS_KEPT)]})])
    full = store.add_name(content(), "one-too-many.png")
    assert (full.created, full.listed) == (False, False)
    assert len(full.record.paths) == PATHS_KEPT and "one-too-many.png" not in store.get([KEY])[KEY].paths


ADDER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from clipvec.store import ImageRecord, ImageStore
    uri, collection, tag, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    vector = np.random.default_rng(7).standard_normal(512).astype(np.float32)
    vector /= np.linalg.norm(vector)
    record = ImageRecord("ab" * 32, ["x"], 1234, 1.5, 64, 48, "PNG", vector)
    with ImageStore(uri, collection=collection, model_name="test/random-clip", dim=512, timeout=60) as store:
        print("open", flush=True)
        sys.stdin.readline()  # every process starts adding at once
        created = sum(store.add_name(record, f"{tag}-{i}.png").created for i in range(count))
    print("created", created, flush=True)
    """
)


@pytest.mark.server
def test_names_added_by_two_processes_at_once_are_all_kept(milvus_server):
    """Two processes (two replicas on one server) each add names for one content at once.

    Milvus Lite is one process: there the in-process lock is all it takes (test above).
    """
    collection = unique_collection("names")
    ImageStore(milvus_server.uri, collection=collection, model_name=MODEL, dim=DIM).close()
    try:
        _race(milvus_server.uri, collection)
    finally:
        drop_collections(milvus_server.uri, collection)


def _race(uri: str, collection: str) -> None:
    count = 6
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ADDER, uri, collection, tag, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    try:
        assert [p.stdout.readline().strip() for p in procs] == ["open", "open"]
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], outs
    created = sum(int(out.split()[-1]) for out in outs)
    assert created == 1, outs
    with ImageStore(uri, collection=collection, model_name=MODEL, dim=DIM) as store:
        stored = store.get([KEY])[KEY].paths
    assert sorted(stored) == sorted(f"{t}-{i}.png" for t in "ab" for i in range(count))
