"""A clipvec collection of schema version 1, made and filled as clipvec made them before issue 17.

A frozen copy of that version's ``schema.create`` and ``records.to_row``, written with a raw
pymilvus client, so the tests of version 2 (reading old collections, ``clipvec migrate``)
start from what earlier clipvec really left on disk, not from today's code pretending.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from clipvec.store import ImageRecord

MODEL = "test/random-clip"  # as in store_fixtures.make_store
DIM = 512


def v1_description(model: str = MODEL, dim: int = DIM, metric: str = "COSINE") -> str:
    meta = {"schema_version": 1, "model": model, "family": "clip", "dim": dim, "metric": metric}
    return json.dumps({"clipvec": meta}, sort_keys=True)


def create_v1_collection(
    uri: str, collection: str, records: Sequence[ImageRecord] = (), *, model: str = MODEL, dim: int = DIM
) -> None:
    """Create ``collection`` at ``uri`` exactly as schema version 1 did, and insert ``records``.

    On a Lite file, call it before any store of this process opens the file: it stops
    milvus-lite's helper for the file afterwards, so that another process may open it.
    """
    from milvus_fixtures import raw_client
    from pymilvus import DataType, MilvusClient

    lite = uri.endswith(".db")
    if lite:
        uri = str(Path(uri).resolve())
    client = raw_client(uri, timeout=60)
    try:
        schema = MilvusClient.create_schema(
            auto_id=False, enable_dynamic_field=False, description=v1_description(model, dim)
        )
        schema.add_field("content_hash", DataType.VARCHAR, max_length=64, is_primary=True)
        schema.add_field("path", DataType.VARCHAR, max_length=65535)
        schema.add_field(
            "paths", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4096, max_length=65535
        )
        schema.add_field("size", DataType.INT64)
        schema.add_field("mtime", DataType.DOUBLE)
        schema.add_field("width", DataType.INT32)
        schema.add_field("height", DataType.INT32)
        schema.add_field("format", DataType.VARCHAR, max_length=64)
        schema.add_field("model", DataType.VARCHAR, max_length=1024)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index = client.prepare_index_params()
        kind, params = ("FLAT", {}) if lite else ("HNSW", {"M": 16, "efConstruction": 200})
        index.add_index("vector", index_type=kind, metric_type="COSINE", params=params)
        client.create_collection(collection, schema=schema, index_params=index, consistency_level="Session")
        rows = [v1_row(r, model) for r in records]
        for start in range(0, len(rows), 256):
            client.insert(collection, rows[start : start + 256])
        if not lite:
            client.flush(collection)
    finally:
        client.close()
        if lite:  # stop milvus-lite's helper: the file may be opened by another process next
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(uri)


def v1_row(record: ImageRecord, model: str = MODEL) -> dict:
    """The row version 1 stored for ``record``."""
    return {
        "content_hash": record.content_hash,
        "path": record.paths[0],
        "paths": list(record.paths),
        "size": int(record.size),
        "mtime": float(record.mtime),
        "width": int(record.width),
        "height": int(record.height),
        "format": record.format,
        "model": model,
        "vector": np.asarray(record.vector, dtype=np.float32).tolist(),
    }
