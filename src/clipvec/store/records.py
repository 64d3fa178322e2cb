"""What is stored and what a search returns: records, hits, their limits and their rows.

A record is one image content (its file bytes' sha256 is the primary key) with every path
it was found under. The limits are the schema's (Milvus counts VARCHAR lengths in UTF-8
bytes); a record is checked against them here, before anything is sent.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clipvec.images.photo_meta import UNKNOWN_META, PhotoMeta
from clipvec.store.filters import has_control
from clipvec.store.meta_columns import GPS_UNKNOWN as GPS_UNKNOWN  # the contract's names, from here
from clipvec.store.meta_columns import META_FIELDS, META_SINCE, meta_columns, meta_from_row
from clipvec.store.meta_columns import OFFSET_UNKNOWN as OFFSET_UNKNOWN
from clipvec.store.meta_columns import TAKEN_UNKNOWN as TAKEN_UNKNOWN

log = logging.getLogger("clipvec.store")  # one logger name for the package, as logs always showed it

PK_MAX_LEN = 64
PATH_MAX_LEN = 65535  # VARCHAR limit; Milvus counts bytes (UTF-8)
PATHS_MAX = 4096  # ARRAY capacity limit
# Paths kept per record (identical bytes under many names): the first ones found, so a record
# stays small; search hits list only a few of them with the count (see search.HIT_PATHS_SHOWN).
PATHS_KEPT = 100
FORMAT_MAX_LEN = 64
MODEL_MAX_LEN = 1024
MAX_TOP_K = 16384

# The fields a read returns from a version-1 collection (the vector only when asked for,
# the model never); ``output_fields`` adds the metadata columns of later versions.
OUTPUT_FIELDS = ["content_hash", "path", "paths", "size", "mtime", "width", "height", "format"]
# The fields a search hit carries from a version-1 collection.
HIT_FIELDS = ["path", "paths", "size", "width", "height", "format"]


META_TEXTS = ("camera_make", "camera_model", "lens", "camera_key", "lens_key")


def has_meta(version: int) -> bool:
    """Whether a collection of schema ``version`` has the metadata columns."""
    return version >= META_SINCE


def output_fields(version: int) -> list[str]:
    """The fields a record read returns from a collection of schema ``version``."""
    return OUTPUT_FIELDS + (list(META_FIELDS) if has_meta(version) else [])


def hit_fields(version: int) -> list[str]:
    """The fields a search hit asks for from a collection of schema ``version``."""
    return HIT_FIELDS + (list(META_FIELDS) if has_meta(version) else [])


@dataclass
class ImageRecord:
    """One stored image content (its file bytes' sha256 is the primary key)."""

    content_hash: str
    paths: list[str]
    size: int
    mtime: float
    width: int
    height: int
    format: str
    vector: np.ndarray | None = field(default=None, repr=False)
    meta: PhotoMeta = UNKNOWN_META  # what its header says (unknown in a version-1 collection)

    @property
    def path(self) -> str:
        return self.paths[0] if self.paths else ""


@dataclass
class Hit:
    """One search result; ``score`` is what Milvus reports for the metric."""

    path: str
    paths: list[str]
    score: float
    content_hash: str
    size: int
    width: int
    height: int
    format: str
    meta: PhotoMeta = UNKNOWN_META


# The range of each metric on unit vectors; float rounding in Milvus can step outside it
# (COSINE 1.0000001), which users then see printed (issue 10).
SCORE_RANGES: dict[str, tuple[float, float]] = {"COSINE": (-1.0, 1.0), "IP": (-1.0, 1.0), "L2": (0.0, 4.0)}


def clamp_score(metric: str, score: float) -> float:
    low, high = SCORE_RANGES.get(metric, (-math.inf, math.inf))
    return min(high, max(low, score))


def higher_is_better(metric: str) -> bool:
    return metric.upper() != "L2"


# ---------------------------------------------------------------------- record <-> row
def to_row(record: ImageRecord, *, dim: int, model_name: str, version: int = META_SINCE) -> dict[str, Any]:
    """The row stored for ``record``; ``ValueError`` for what the collection cannot hold.

    A collection of schema ``version`` 1 has no metadata columns: they are left out.
    """
    pk = record.content_hash
    if not isinstance(pk, str) or not pk or len(pk.encode()) > PK_MAX_LEN or has_control(pk):
        raise ValueError(f"content_hash must be a non-empty string of at most {PK_MAX_LEN} bytes: {pk!r}")
    paths = [record.paths] if isinstance(record.paths, str) else [str(p) for p in record.paths]
    if not paths:
        raise ValueError(f"record {pk} has no path")
    for p in paths:
        if len(p.encode()) > PATH_MAX_LEN:
            raise ValueError(f"record {pk}: path longer than {PATH_MAX_LEN} bytes")
    if len(paths) > PATHS_KEPT:
        log.warning("record %s has %d paths; keeping the first %d", pk, len(paths), PATHS_KEPT)
        paths = paths[:PATHS_KEPT]
    if record.vector is None:
        raise ValueError(f"record {pk} has no vector")
    vector = np.asarray(record.vector, dtype=np.float32).reshape(-1)
    if vector.shape != (dim,):
        raise ValueError(f"record {pk}: vector has {vector.size} dimensions, the collection {dim}")
    if not np.isfinite(vector).all():
        raise ValueError(f"record {pk}: vector has NaN or infinite values")
    fmt = str(record.format or "")
    if len(fmt.encode()) > FORMAT_MAX_LEN:
        raise ValueError(f"record {pk}: format name too long: {fmt!r}")
    mtime = float(record.mtime)
    row: dict[str, Any] = {
        "content_hash": pk,
        "path": paths[0],
        "paths": paths,
        "size": int(record.size),
        "mtime": mtime if math.isfinite(mtime) else 0.0,
        "width": int(record.width),
        "height": int(record.height),
        "format": fmt,
        "model": model_name,
        "vector": vector,
    }
    if has_meta(version):
        row.update(meta_columns(record.meta if isinstance(record.meta, PhotoMeta) else UNKNOWN_META))
    return row


def from_row(row: dict[str, Any], with_vectors: bool) -> ImageRecord:
    """The record of a row read back; a row without ``paths`` has its one ``path``."""
    vector = None
    if with_vectors and row.get("vector") is not None:
        vector = np.asarray(row["vector"], dtype=np.float32)
    paths = [str(p) for p in (row.get("paths") or [])] or [str(row.get("path", ""))]
    return ImageRecord(
        content_hash=str(row["content_hash"]),
        paths=paths,
        size=int(row.get("size", 0)),
        mtime=float(row.get("mtime", 0.0)),
        width=int(row.get("width", 0)),
        height=int(row.get("height", 0)),
        format=str(row.get("format", "")),
        vector=vector,
        meta=meta_from_row(row),
    )


def row_bytes(row: dict[str, Any], dim: int) -> int:
    """Rough wire size of one row (the vector dominates: 4 bytes per dimension)."""
    texts = sum(len(str(row.get(f, "")).encode()) for f in META_TEXTS)  # 0 in a version-1 row
    return 4 * dim + sum(len(p.encode()) + 8 for p in row["paths"]) + len(row["path"].encode()) + 160 + texts


# ---------------------------------------------------------------------- hits
def parse_hit(hit: Any, metric: str = "") -> Hit:
    """A ``Hit`` from one pymilvus search hit, its score clamped to the metric's range."""

    # pymilvus hits: dict-like with "id", "distance", "entity" (Lite and server alike in
    # pymilvus 3); older clients exposed attributes or put fields at the top level.
    def pick(key: str, default: Any = None) -> Any:
        try:
            return hit[key]
        except (KeyError, TypeError, IndexError):
            return getattr(hit, key, default)

    entity = pick("entity") or {}
    if not isinstance(entity, dict) or not entity:
        entity = dict(hit) if isinstance(hit, dict) else {}

    def value(key: str, default: Any) -> Any:
        got = entity.get(key) if isinstance(entity, dict) else None
        return default if got is None else got

    pk = pick("id", None)
    if pk is None:
        pk = pick("pk", value("content_hash", ""))
    distance = pick("distance", None)
    if distance is None:
        distance = pick("score", 0.0)
    paths = [str(p) for p in value("paths", [])]
    path = str(value("path", paths[0] if paths else ""))
    return Hit(
        path=path,
        paths=paths or [path],
        score=clamp_score(metric, float(distance)),
        content_hash=str(pk),
        size=int(value("size", 0)),
        width=int(value("width", 0)),
        height=int(value("height", 0)),
        format=str(value("format", "")),
        meta=meta_from_row(entity) if isinstance(entity, dict) else UNKNOWN_META,
    )
