"""The JSON shapes of the service's answers (what clients parse: keep them stable).

``model`` is the model's name (a hub id, or a local folder's last name), never its path on the
server (issue 21).

:func:`vector_answer_bytes` writes the vector answers. BentoML writes a returned dict with
``json.dumps``, which prints each float32 as the double it converts to (17 digits) and takes
~0.26 ms of the event loop's time for 512 floats; orjson prints each one as the shortest text
that reads back as the same float32 (~9 digits, half the bytes) in ~0.01 ms (issue 20.4).
The numbers are the same float32 values: a client that reads them as float32 gets exactly
what it got before; only the text is shorter (and compact, UTF-8).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from clipvec.images import PreparedImage
from clipvec.search import hit_json
from clipvec.store import Hit, ImageStore

if TYPE_CHECKING:  # torch comes with the model, in the worker (BentoML's supervisor imports this too)
    from clipvec.model.encoder import ClipEncoder, TextEncoding


def vector_json(vector: np.ndarray) -> list[float]:
    return vector.astype(np.float32).tolist()


def vector_answer_bytes(answer: dict[str, Any]) -> bytes:
    """The JSON text of a vector answer, single (``vector``) or batch (``results``), floats as float32."""
    return orjson.dumps(_float32_vectors(answer), option=orjson.OPT_SERIALIZE_NUMPY)


def _float32_vectors(answer: dict[str, Any]) -> dict[str, Any]:
    """``answer`` with its ``vector`` lists (and its results' ones) as float32 arrays, for orjson."""
    out = dict(answer)
    if isinstance(out.get("vector"), list):
        out["vector"] = np.asarray(out["vector"], dtype=np.float32)
    if isinstance(out.get("results"), list):
        out["results"] = [_float32_vectors(r) if isinstance(r, dict) else r for r in out["results"]]
    return out


def text_answer(encoder: ClipEncoder, encoded: TextEncoding, row: int = 0) -> dict[str, Any]:
    return {
        "vector": vector_json(encoded.vectors[row]),
        "dim": encoder.dim,
        "model": encoder.shown_name,
        "truncated": encoded.truncated[row],
        "tokens": encoded.token_counts[row],
    }


def text_item(encoded: TextEncoding, row: int) -> dict[str, Any]:
    """One item of a batch answer (the batch names the model and dimension once)."""
    return {
        "vector": vector_json(encoded.vectors[row]),
        "truncated": encoded.truncated[row],
        "tokens": encoded.token_counts[row],
    }


def image_answer(encoder: ClipEncoder, prepared: PreparedImage, vector: np.ndarray) -> dict[str, Any]:
    return {
        "vector": vector_json(vector),
        "dim": encoder.dim,
        "model": encoder.shown_name,
        "format": prepared.format,
        "width": prepared.width,
        "height": prepared.height,
    }


def batch_answer(encoder: ClipEncoder, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"results": results, "dim": encoder.dim, "model": encoder.shown_name}


def hits_answer(encoder: ClipEncoder, store: ImageStore, hits: list[Hit]) -> dict[str, Any]:
    return {
        "hits": [hit_json(h) for h in hits],
        "metric": store.metric,
        "higher_is_better": store.higher_is_better,
        "model": encoder.shown_name,
    }


def collection_answer(encoder: ClipEncoder, store: ImageStore, collection: str) -> dict[str, Any]:
    return {
        "collection": collection,
        "count": store.count(),
        "model": encoder.shown_name,
        "family": encoder.family.name,
        "dim": encoder.dim,
        "metric": store.metric,
        "higher_is_better": store.higher_is_better,
        "schema_version": store.schema_version,
        "hint": store.migrate_hint,  # null, or how to upgrade an older collection (issue 17)
    }
