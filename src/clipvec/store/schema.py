"""The collection's schema, its index and the check that an existing one fits this process.

The model, its family, dimension, metric and schema version are kept in the collection
description (JSON), which both backends store (a collection made before families were
recorded has none: it was made by a CLIP model, the only family clipvec ran then); the vector field's dim and the index's metric are
checked too. Schema version 2 (issue 17) adds a photo's metadata columns
(``store.meta_columns``); a version-1 collection still opens, reads and searches, its rows
with unknown metadata, and writes to it leave those columns out until ``clipvec migrate``
upgrades it. ``index_type="auto"``: exact FLAT on Lite (which offers only FLAT, IVF_FLAT,
AUTOINDEX; ~15 ms at 100k rows, IVF_FLAT ~1 ms at ~99% recall), HNSW (M 16,
efConstruction 200, search ef max(128, top_k)) on a server.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clipvec.errors import CollectionMissing, ModelMismatch, StoreUnavailable
from clipvec.locations import model_shown
from clipvec.store.connection import LOAD_TIMEOUT, Connection
from clipvec.store.meta_columns import CAMERA_KEY_MAX_LEN, META_SINCE, META_TEXT_MAX_LEN
from clipvec.store.records import FORMAT_MAX_LEN, MODEL_MAX_LEN, PATH_MAX_LEN, PATHS_MAX, PK_MAX_LEN

log = logging.getLogger("clipvec.store")  # one logger name for the package, as logs always showed it

SCHEMA_VERSION = 2  # what new collections get
SCHEMA_VERSIONS = (1, 2)  # what this clipvec opens
# What a user of an older collection is told (by ``clipvec import`` and ``/collection_info``).
MIGRATE_HINT = "run `clipvec migrate` to add date, camera, lens and place to its records (no re-encoding)"
# The family a collection without one in its description was made by (``clipvec.model.family``).
FAMILY_BEFORE_FAMILIES = "clip"
METRICS = ("COSINE", "L2", "IP")
LITE_INDEXES = ("FLAT", "IVF_FLAT", "AUTOINDEX")

_COLLECTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection must be for this process: its name, model, dimension and metric."""

    collection: str
    model_name: str
    dim: int
    metric: str
    # The checkpoint's content identity (``clipvec.model.identity``): the same weights match
    # from any folder. None: the name decides, as in collections made before identities.
    model_id: str | None = None
    # For a collection that records only a name: whether that name is this same checkpoint
    # (e.g. the hub id of the folder this process loads). Asked only when the names differ.
    recognises: Callable[[str], bool] | None = field(default=None, compare=False)
    family: str = FAMILY_BEFORE_FAMILIES  # the model's family: vectors of two families never compare

    @classmethod
    def checked(
        cls,
        collection: str,
        model_name: str,
        dim: int,
        metric: str,
        model_id: str | None = None,
        recognises: Callable[[str], bool] | None = None,
        family: str = FAMILY_BEFORE_FAMILIES,
    ) -> CollectionSpec:
        """The spec, or ``ValueError`` before anything is opened."""
        metric = metric.upper()
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
        if dim <= 0:
            raise ValueError(f"dim must be positive, not {dim}")
        if not _COLLECTION_NAME.match(collection or ""):
            raise ValueError(
                f"invalid Milvus collection name {collection!r}: letters, digits and '_', "
                "not starting with a digit, at most 255 characters"
            )
        if not model_name or len(model_name.encode()) > MODEL_MAX_LEN:
            raise ValueError("model_name must be a non-empty string of at most 1024 bytes")
        if not family:
            raise ValueError("family must be a non-empty string")
        return cls(collection, model_name, int(dim), metric, model_id or None, recognises, family)

    def same_model(self, stored_name: Any, stored_id: Any) -> bool:
        """Whether a collection that recorded ``stored_name`` / ``stored_id`` was made by this model."""
        if stored_id and self.model_id:
            return bool(stored_id == self.model_id)  # content decides; the name may differ
        if stored_name == self.model_name:
            return True
        return bool(isinstance(stored_name, str) and self.recognises and self.recognises(stored_name))

    def description(self, version: int = SCHEMA_VERSION) -> str:
        """The collection description: clipvec's facts about it, as JSON."""
        return json.dumps(
            {
                "clipvec": {
                    "schema_version": version,
                    "model": self.model_name,
                    "family": self.family,
                    **({"model_id": self.model_id} if self.model_id else {}),
                    "dim": self.dim,
                    "metric": self.metric,
                }
            },
            sort_keys=True,
        )


def open_collection(
    conn: Connection, spec: CollectionSpec, index_type: str, *, create_missing: bool = True
) -> tuple[str, str, int]:
    """Open (after checking it) or create the collection, load it.

    Returns its index type, the model name it records (which may differ from
    ``spec.model_name`` for the same weights loaded from another folder) and its schema version.
    ``create_missing=False`` (readers): ``CollectionMissing`` instead of creating it.
    """
    recorded, version = spec.model_name, SCHEMA_VERSION
    if conn.call(conn.client.has_collection, spec.collection):
        recorded, version = check_existing(conn, spec)
    elif not create_missing:
        raise CollectionMissing(f"there is no collection {spec.collection!r} at {conn.uri}")
    else:
        try:
            create(conn, spec, index_type)
        except StoreUnavailable:
            raise
        except Exception:
            # Another process (a second worker) may have created it meanwhile.
            if not conn.call(conn.client.has_collection, spec.collection):
                raise
            recorded, version = check_existing(conn, spec)
    conn.call(conn.client.load_collection, spec.collection, timeout=max(conn.timeout, LOAD_TIMEOUT))
    return read_index(conn, spec), recorded, version


def create(conn: Connection, spec: CollectionSpec, index_type: str, version: int = SCHEMA_VERSION) -> None:
    """Create the collection at schema ``version`` (1 only for tests and ``clipvec migrate``'s checks)."""
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(
        auto_id=False, enable_dynamic_field=False, description=spec.description(version)
    )
    schema.add_field("content_hash", DataType.VARCHAR, max_length=PK_MAX_LEN, is_primary=True)
    schema.add_field("path", DataType.VARCHAR, max_length=PATH_MAX_LEN)
    schema.add_field(
        "paths",
        DataType.ARRAY,
        element_type=DataType.VARCHAR,
        max_capacity=PATHS_MAX,
        max_length=PATH_MAX_LEN,
    )
    schema.add_field("size", DataType.INT64)
    schema.add_field("mtime", DataType.DOUBLE)
    schema.add_field("width", DataType.INT32)
    schema.add_field("height", DataType.INT32)
    schema.add_field("format", DataType.VARCHAR, max_length=FORMAT_MAX_LEN)
    schema.add_field("model", DataType.VARCHAR, max_length=MODEL_MAX_LEN)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=spec.dim)
    if version >= META_SINCE:  # store.meta_columns: META_FIELDS, each unknown as a sentinel
        schema.add_field("taken", DataType.INT64)
        schema.add_field("taken_offset", DataType.INT32)
        for name in ("camera_make", "camera_model", "lens", "lens_key"):
            schema.add_field(name, DataType.VARCHAR, max_length=META_TEXT_MAX_LEN)
        schema.add_field("camera_key", DataType.VARCHAR, max_length=CAMERA_KEY_MAX_LEN)
        schema.add_field("lat", DataType.DOUBLE)
        schema.add_field("lon", DataType.DOUBLE)

    kind, params = index_choice(index_type, is_lite=conn.is_lite, dim=spec.dim)
    index_params = conn.client.prepare_index_params()
    index_params.add_index("vector", index_type=kind, metric_type=spec.metric, params=params)
    log.info("creating Milvus collection %r at %s (%s, %s)", spec.collection, conn.uri, kind, spec.metric)
    conn.create_collection(spec.collection, schema, index_params)


def index_choice(index_type: str, *, is_lite: bool, dim: int) -> tuple[str, dict[str, Any]]:
    """The index kind and build params for ``index_type`` on this backend."""
    kind = (index_type or "auto").upper()
    if kind == "AUTO":
        # Lite 2.5: exact FLAT (a few ms at 100k); server: HNSW for low latency at scale.
        kind = "FLAT" if is_lite else "HNSW"
    if is_lite and kind not in LITE_INDEXES:
        raise ValueError(
            f"Milvus Lite supports only {', '.join(LITE_INDEXES)} indexes, not {kind}; "
            "use index_type=auto or a Milvus server"
        )
    params: dict[str, Any] = {}
    if kind == "HNSW":
        params = {"M": 16, "efConstruction": 200}
    elif kind in ("IVF_FLAT", "IVF_SQ8", "IVF_PQ"):
        params = {"nlist": 1024}
        if kind == "IVF_PQ":
            params["m"] = max(1, dim // 8)
    return kind, params


def check_existing(conn: Connection, spec: CollectionSpec) -> tuple[str, int]:
    """The model name and schema version the collection records; ``ModelMismatch`` unless it
    is clipvec's, a schema version this clipvec opens, this model, dim and metric.

    Its detail (for the log and the CLI) names the collection's URI and the models' folders;
    its public detail (what a client is told, a 409) names neither (issue 21).
    """
    desc = conn.call(conn.client.describe_collection, spec.collection)
    where = f"collection {spec.collection!r} at {conn.uri}"
    try:
        meta = json.loads(desc.get("description") or "")["clipvec"]
    except (ValueError, KeyError, TypeError):
        raise ModelMismatch(
            f"{where} was not created by clipvec (no clipvec metadata in its description); "
            "choose another collection name (CLIPVEC_COLLECTION)",
            public=f"collection {spec.collection!r} was not created by clipvec",
        ) from None
    version = meta.get("schema_version")
    if version not in SCHEMA_VERSIONS or isinstance(version, bool):
        raise ModelMismatch(
            f"{where} has clipvec schema version {version}, this clipvec opens versions "
            f"{', '.join(map(str, SCHEMA_VERSIONS))}; use the clipvec that made it, import into another "
            f"collection (CLIPVEC_COLLECTION), or delete this one with "
            f"`clipvec drop --collection {spec.collection}` and import again",
            public=f"collection {spec.collection!r} has clipvec schema version {version}, "
            f"this clipvec opens versions {', '.join(map(str, SCHEMA_VERSIONS))}",
        )
    stored_dim = meta.get("dim")
    for fld in desc.get("fields", []):
        if fld.get("name") == "vector":
            stored_dim = int(fld.get("params", {}).get("dim", stored_dim))
    family = str(meta.get("family") or FAMILY_BEFORE_FAMILIES)
    stored = (meta.get("model"), family, stored_dim, str(meta.get("metric", "")).upper())
    wanted = (spec.model_name, spec.family, spec.dim, spec.metric)
    if not spec.same_model(stored[0], meta.get("model_id")) or stored[1:] != wanted[1:]:
        built = f"model {model_shown(str(stored[0]))!r} ({stored[1]}, dim {stored[2]}, {stored[3]})"
        uses = f"model {model_shown(wanted[0])!r} ({wanted[1]}, dim {wanted[2]}, {wanted[3]})"
        raise ModelMismatch(
            f"{where} was built with model {stored[0]!r} ({stored[1]}, dim {stored[2]}, {stored[3]}), "
            f"but this process uses model {wanted[0]!r} ({wanted[1]}, dim {wanted[2]}, {wanted[3]}); "
            "vectors from different models cannot be compared. Use the same model, another "
            f"collection (CLIPVEC_COLLECTION), or delete this one with `clipvec drop --collection "
            f"{spec.collection}` and import again.",
            public=f"collection {spec.collection!r} was built with {built}, but this service uses "
            f"{uses}; vectors from different models cannot be compared",
        )
    return str(stored[0]), int(version)


def read_index(conn: Connection, spec: CollectionSpec) -> str:
    """The vector index's type (FLAT if it cannot be read); ``ModelMismatch`` for another metric."""
    kind, metric = "FLAT", spec.metric
    try:
        names = conn.call(conn.client.list_indexes, spec.collection, field_name="vector")
        if names:
            info = conn.call(conn.client.describe_index, spec.collection, names[0])
            kind = str(info.get("index_type", kind)).upper()
            metric = str(info.get("metric_type", metric)).upper()
    except StoreUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - index info is advisory
        log.debug("describe_index failed: %s", exc)
    if metric != spec.metric:
        raise ModelMismatch(
            f"collection {spec.collection!r} at {conn.uri} is indexed for {metric}, "
            f"but this process asks for {spec.metric}",
            public=f"collection {spec.collection!r} is indexed for {metric}, this service asks for {spec.metric}",
        )
    return kind


def search_params(index_type: str, metric: str, top_k: int) -> dict[str, Any]:
    """The search params for ``top_k`` hits on this index."""
    params: dict[str, Any] = {}
    if index_type == "HNSW":
        # ef 128: recall@10 1.0 on clustered 100k data for ~0.1 ms more than ef 64 (0.997)
        params["ef"] = max(128, top_k)
    elif index_type.startswith("IVF"):
        params["nprobe"] = 32
    return {"metric_type": metric, "params": params}
