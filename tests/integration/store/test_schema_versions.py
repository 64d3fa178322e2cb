"""Issue 17.2 on Milvus Lite 2.5.1 and the real 2.3.5 server: schema version 2 stores a photo's
metadata through every read and search; a version-1 collection (as earlier clipvec made it)
still opens, searches, reads back unknown metadata and takes writes."""

from __future__ import annotations

import dataclasses

import numpy as np
from v1_collection import create_v1_collection

from clipvec.images.photo_meta import PhotoMeta
from clipvec.store import ImageRecord

DIM = 512
METAS = [
    PhotoMeta(1714557600, 120, "Canon", "Canon EOS R5", "RF24-105mm F4 L IS USM", 48.8584, 2.2945),
    PhotoMeta(1700000000, None, "NIKON CORPORATION", "NIKON Z 6", "", -33.8568, 151.2153),
    PhotoMeta(-86400 * 365 * 30, -300, "", "", "Helios 44-2", None, None),  # 1940, before the epoch
    PhotoMeta(),
]


def records(n: int, seed: int = 0) -> list[ImageRecord]:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        ImageRecord(
            content_hash=f"{seed:04d}{i:060x}",
            paths=[f"img/{i:03d}.jpg"],
            size=1000 + i,
            mtime=1_700_000_000.0 + i,
            width=640,
            height=480,
            format="JPEG",
            vector=vectors[i],
            meta=METAS[i % len(METAS)],
        )
        for i in range(n)
    ]


def test_version_2_round_trips_the_metadata(make_store):
    store = make_store()
    assert store.schema_version == 2
    written = records(8)
    store.upsert(written)
    want = {r.content_hash: r.meta for r in written}
    assert {h: r.meta for h, r in store.get(list(want)).items()} == want
    assert {r.content_hash: r.meta for r in store.iter_records(with_vectors=True, batch=3)} == want
    assert store.get_by_path("img/001.jpg").meta == METAS[1]
    hits = store.search(written[0].vector, top_k=8)
    assert {h.content_hash: h.meta for h in hits} == want
    store.close()
    again = make_store()  # reopened: still version 2, still the same values
    assert again.schema_version == 2
    assert again.get([written[2].content_hash])[written[2].content_hash].meta == METAS[2]


def test_a_version_1_collection_opens_searches_and_takes_writes(make_store, milvus_backend):
    old = [dataclasses.replace(r, meta=PhotoMeta()) for r in records(5)]
    create_v1_collection(milvus_backend.uri, milvus_backend.collection, old)
    store = make_store()
    assert store.schema_version == 1
    assert store.count() == 5
    hits = store.search(old[3].vector, top_k=5)
    assert hits[0].content_hash == old[3].content_hash and len(hits) == 5
    assert all(h.meta == PhotoMeta() for h in hits)
    assert all(r.meta == PhotoMeta() for r in store.iter_records())
    # A write with metadata to a version-1 collection stores the record, without the metadata.
    new = records(2, seed=1)
    store.upsert(new)
    assert store.count() == 7
    assert store.get([new[0].content_hash])[new[0].content_hash].meta == PhotoMeta()
    store.close()
    again = make_store()
    assert again.schema_version == 1 and again.count() == 7  # not silently upgraded
