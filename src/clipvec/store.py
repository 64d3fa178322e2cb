"""The one place that owns the Milvus collection: image vectors in, nearest images out.

Works the same against Milvus Lite 2.5 (a local ``*.db`` file) and a Milvus 2.3+ server
(``http(s)://host:port``). Portability rules learnt the hard way, each checked on both:

* collections use ``consistency_level="Session"``, but a 2.3 server returns no timestamp
  for a delete, so Session reads do not see it: the first read after a delete is Strong;
* ``count()`` counts rows (``count(*)`` over ``content_hash != ""``), never collection
  statistics, which ignore deletes;
* a restarted server may not reload the collection: calls that fail with "not loaded" load
  it and retry once;
* ``paths`` is ``ARRAY<VARCHAR>`` (a 2.3 server only takes JSON *objects*, not lists);
* duplicate primary keys inside one upsert request are stored twice by both backends, so
  ``upsert`` deduplicates (last record wins) before sending;
* requests are small (<= 512 rows, ~1 MiB): Lite slows down sharply above ~4 MB per request
  (8k rows of 512-d took 71 s instead of ~1 s) and both backends are fastest around 500 rows;
* string literals in filters: Lite decodes only ``\\"`` and ``\\\\``; a 2.3 server's ``like``
  has no escape for ``%``/``_``. Path prefixes are therefore filtered with a range
  (``path >= p and path < p'``), which is exact for any characters; control characters
  cannot be written in a Lite filter at all and are checked on the client;
* the model, dimension, metric and schema version are kept in the collection description
  (JSON), which both backends store; the vector field's dim and the index's metric are
  checked too;
* ``index_type="auto"``: exact FLAT on Lite (which offers only FLAT, IVF_FLAT, AUTOINDEX;
  ~15 ms at 100k rows, IVF_FLAT ~1 ms at ~99% recall), HNSW (M 16, efConstruction 200,
  search ef max(128, top_k)) on a server.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from clipvec.errors import ModelMismatch, StoreUnavailable

if TYPE_CHECKING:
    from clipvec.settings import Settings

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
METRICS = ("COSINE", "L2", "IP")
PK_MAX_LEN = 64
PATH_MAX_LEN = 65535  # VARCHAR limit; Milvus counts bytes (UTF-8)
PATHS_MAX = 4096  # ARRAY capacity limit
FORMAT_MAX_LEN = 64
MODEL_MAX_LEN = 1024
MAX_TOP_K = 16384
BATCH_ROWS = 512
BATCH_BYTES = 1 << 20
QUERY_IN_CHUNK = 1000  # hashes per ``content_hash in [...]`` query (Lite: LITE_PAGE)
LOAD_TIMEOUT = 60.0  # creating / loading a collection takes ~3 s on an idle 2.3 server
LITE_INDEXES = ("FLAT", "IVF_FLAT", "AUTOINDEX")
LITE_PAGE = 200  # iter_records page size on Lite (see there)

_COLLECTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_OUTPUT_FIELDS = ["content_hash", "path", "paths", "size", "mtime", "width", "height", "format"]


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


# ---------------------------------------------------------------------- helpers
def is_lite_uri(uri: str) -> bool:
    """pymilvus treats a URI ending in ``.db`` as a Milvus Lite file."""
    return uri.endswith(".db")


def higher_is_better(metric: str) -> bool:
    return metric.upper() != "L2"


def _has_control(text: str) -> bool:
    return any(ch < " " or ch == "\x7f" for ch in text)


def literal(text: str) -> str:
    """A Milvus filter string literal for ``text`` (portable to Lite 2.5 and server 2.3).

    Only ``"`` and ``\\`` are escaped: those are the escapes both parsers decode. Control
    characters cannot be expressed portably, so they are refused (``ValueError``).
    """
    if _has_control(text):
        raise ValueError(f"control characters cannot be used in a Milvus filter: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _next_string(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix``.

    UTF-8 byte order equals code point order, so ``prefix <= s < _next_string(prefix)``
    holds exactly for the strings ``s`` starting with ``prefix``. ``None``: no upper bound.
    """
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:  # surrogates cannot be encoded
            code = 0xE000
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


def prefix_filter(field_name: str, prefix: str) -> str:
    """``field`` starts with ``prefix``, as a range: exact for quotes, ``%``, ``_``, ``\\``."""
    upper = _next_string(prefix)
    expr = f"{field_name} >= {literal(prefix)}"
    if upper is not None:
        expr += f" and {field_name} < {literal(upper)}"
    return expr


def _in_filter(values: Sequence[str]) -> str:
    return "content_hash in [" + ",".join(literal(v) for v in values) + "]"


def _chunks(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def _row_bytes(row: dict[str, Any], dim: int) -> int:
    """Rough wire size of one row (the vector dominates: 4 bytes per dimension)."""
    return 4 * dim + sum(len(p.encode()) + 8 for p in row["paths"]) + len(row["path"].encode()) + 160


_pkg_resources_lock = threading.Lock()


def _import_milvus_lite() -> None:
    """Import milvus_lite, which (2.5.1) still imports ``pkg_resources``.

    setuptools >= 81 no longer ships ``pkg_resources``; milvus_lite only uses it to read
    its own version, so a tiny stand-in is placed in ``sys.modules`` for that one import
    and removed again.
    """
    import sys

    if "milvus_lite.server_manager" in sys.modules:
        return
    with _pkg_resources_lock:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            import types
            from importlib import metadata

            shim = types.ModuleType("pkg_resources")

            class DistributionNotFound(Exception):
                pass

            def get_distribution(name: str) -> Any:
                try:
                    return types.SimpleNamespace(project_name=name, version=metadata.version(name))
                except metadata.PackageNotFoundError as exc:
                    raise DistributionNotFound(name) from exc

            shim.DistributionNotFound = DistributionNotFound  # type: ignore[attr-defined]
            shim.get_distribution = get_distribution  # type: ignore[attr-defined]
            sys.modules["pkg_resources"] = shim
            try:
                import milvus_lite.server_manager  # noqa: F401
            finally:
                if sys.modules.get("pkg_resources") is shim:
                    del sys.modules["pkg_resources"]
        else:
            import milvus_lite.server_manager  # noqa: F401


# Milvus Lite runs one helper process per db file and pymilvus never stops it; we do, when
# the last ImageStore on that file closes (tests open hundreds of small dbs).
_lite_users: dict[str, int] = {}
_lite_lock = threading.Lock()


def _lite_acquire(path: str) -> None:
    with _lite_lock:
        _lite_users[path] = _lite_users.get(path, 0) + 1


def _lite_release(path: str) -> None:
    with _lite_lock:
        left = _lite_users.get(path, 0) - 1
        if left > 0:
            _lite_users[path] = left
            return
        _lite_users.pop(path, None)
        try:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(path)
        except Exception as exc:  # noqa: BLE001 - best effort at close
            log.debug("could not stop milvus-lite for %s: %s", path, exc)


def _is_unavailable(exc: BaseException) -> bool:
    """True for errors that mean "Milvus cannot be reached", not "the request was wrong"."""
    import grpc
    from pymilvus.exceptions import (
        ConnectionConfigException,
        ConnectionNotExistException,
        MilvusUnavailableException,
    )

    if isinstance(exc, (MilvusUnavailableException, ConnectionNotExistException, ConnectionConfigException)):
        return True
    code = exc.code() if isinstance(exc, grpc.RpcError) else getattr(exc, "code", None)
    if isinstance(code, grpc.StatusCode):
        return code in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.CANCELLED,
        )
    text = str(exc)
    return any(
        marker in text
        for marker in (
            "Fail connecting to server",
            "server unavailable",
            "Retry timeout",
            "UNAVAILABLE",
            "Deadline Exceeded",
        )
    )


def _is_not_loaded(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "not loaded" in text or "collection not load" in text


# ---------------------------------------------------------------------- the store
class ImageStore:
    """Image records and their vectors in one Milvus collection."""

    def __init__(
        self,
        uri: str,
        *,
        collection: str = "images",
        model_name: str,
        dim: int,
        metric: str = "COSINE",
        index_type: str = "auto",
        token: str = "",
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
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
        self.uri = uri
        self.collection = collection
        self.model_name = model_name
        self.dim = int(dim)
        self.metric = metric
        self.higher_is_better = higher_is_better(metric)
        self.timeout = timeout
        self.is_lite = is_lite_uri(uri)
        self._in_chunk = LITE_PAGE if self.is_lite else QUERY_IN_CHUNK
        self._lite_path: str | None = None
        self._client: Any = None
        # A 2.3 server returns no timestamp for deletes, so pymilvus' Session consistency
        # cannot see them: the first read after a delete asks for Strong instead.
        self._after_delete = False
        self._connect(token, connect_timeout)
        try:
            if self._call(self._client.has_collection, collection):
                self._open_existing()
            else:
                try:
                    self._create(index_type)
                except StoreUnavailable:
                    raise
                except Exception:
                    # Another process (a second worker) may have created it meanwhile.
                    if not self._call(self._client.has_collection, collection):
                        raise
                    self._open_existing()
            self._call(self._client.load_collection, collection, timeout=max(self.timeout, LOAD_TIMEOUT))
            self.index_type = self._read_index()
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_settings(cls, settings: Settings, *, model_name: str, dim: int) -> ImageStore:
        return cls(
            settings.milvus_uri,
            collection=settings.collection,
            model_name=model_name,
            dim=dim,
            metric=settings.metric,
            index_type=settings.index_type,
            token=settings.milvus_token,
        )

    def __repr__(self) -> str:
        return (
            f"ImageStore(uri={self.uri!r}, collection={self.collection!r}, model={self.model_name!r}, "
            f"dim={self.dim}, metric={self.metric})"
        )

    def __enter__(self) -> ImageStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- connection ------------------------------------------------------------------
    def _connect(self, token: str, connect_timeout: float) -> None:
        from pymilvus import MilvusClient

        uri = self.uri
        if self.is_lite:
            db = Path(uri).expanduser().absolute()
            try:
                db.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(f"cannot create the folder for Milvus Lite file {uri}: {exc}") from exc
            try:
                _import_milvus_lite()
            except ImportError as exc:
                raise StoreUnavailable(
                    f"{uri} is a Milvus Lite file but milvus-lite is not installed "
                    "(pip install milvus-lite; not available on Windows: use a server URI)"
                ) from exc
            uri = str(db)
            self._lite_path = str(db.resolve())
            _lite_acquire(self._lite_path)
        try:
            self._client = MilvusClient(uri=uri, token=token or "", timeout=connect_timeout, dedicated=True)
        except Exception as exc:  # noqa: BLE001 - every failure to connect is "unavailable"
            if self._lite_path:
                _lite_release(self._lite_path)
                self._lite_path = None
            hint = ""
            if self.is_lite:
                hint = (
                    " (a Milvus Lite file can be open in one process only, and its name must match "
                    "[A-Za-z0-9._-]+ and be at most 36 characters; use a Milvus server URI for "
                    "several processes)"
                )
            raise StoreUnavailable(f"cannot open Milvus at {self.uri}: {exc}{hint}") from exc

    def _call(self, fn: Any, *args: Any, with_timeout: bool = True, **kwargs: Any) -> Any:
        """Run one client call with the store timeout; connection trouble -> StoreUnavailable."""
        if self._client is None:
            raise StoreUnavailable(f"the store for {self.uri} is closed")
        if with_timeout:
            kwargs.setdefault("timeout", self.timeout)
        try:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if not _is_not_loaded(exc):
                    raise
                # A restarted server may come back without the collection loaded.
                log.warning("collection %r at %s is not loaded; loading it", self.collection, self.uri)
                self._client.load_collection(self.collection, timeout=max(self.timeout, LOAD_TIMEOUT))
                return fn(*args, **kwargs)
        except Exception as exc:
            if _is_unavailable(exc):
                raise StoreUnavailable(f"Milvus at {self.uri} is unavailable: {exc}") from exc
            raise

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception as exc:  # noqa: BLE001 - closing must not fail
                log.debug("closing the Milvus client failed: %s", exc)
        if self._lite_path is not None:
            path, self._lite_path = self._lite_path, None
            _lite_release(path)

    # ---- schema ----------------------------------------------------------------------
    def _description(self) -> str:
        return json.dumps(
            {
                "clipvec": {
                    "schema_version": SCHEMA_VERSION,
                    "model": self.model_name,
                    "dim": self.dim,
                    "metric": self.metric,
                }
            },
            sort_keys=True,
        )

    def _create(self, index_type: str) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(
            auto_id=False, enable_dynamic_field=False, description=self._description()
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
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)

        kind, params = self._index_choice(index_type)
        index_params = self._client.prepare_index_params()
        index_params.add_index("vector", index_type=kind, metric_type=self.metric, params=params)
        log.info("creating Milvus collection %r at %s (%s, %s)", self.collection, self.uri, kind, self.metric)
        self._call(
            self._client.create_collection,
            self.collection,
            schema=schema,
            index_params=index_params,
            consistency_level="Session",
            timeout=max(self.timeout, LOAD_TIMEOUT),
        )

    def _index_choice(self, index_type: str) -> tuple[str, dict[str, Any]]:
        kind = (index_type or "auto").upper()
        if kind == "AUTO":
            # Lite 2.5: exact FLAT (a few ms at 100k); server: HNSW for low latency at scale.
            kind = "FLAT" if self.is_lite else "HNSW"
        if self.is_lite and kind not in LITE_INDEXES:
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
                params["m"] = max(1, self.dim // 8)
        return kind, params

    def _open_existing(self) -> None:
        desc = self._call(self._client.describe_collection, self.collection)
        where = f"collection {self.collection!r} at {self.uri}"
        try:
            meta = json.loads(desc.get("description") or "")["clipvec"]
        except (ValueError, KeyError, TypeError):
            raise ModelMismatch(
                f"{where} was not created by clipvec (no clipvec metadata in its description); "
                "choose another collection name (CLIPVEC_COLLECTION)"
            ) from None
        version = meta.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ModelMismatch(
                f"{where} has clipvec schema version {version}, this clipvec uses {SCHEMA_VERSION}; "
                "re-import into a new collection"
            )
        stored_dim = meta.get("dim")
        for fld in desc.get("fields", []):
            if fld.get("name") == "vector":
                stored_dim = int(fld.get("params", {}).get("dim", stored_dim))
        stored = (meta.get("model"), stored_dim, str(meta.get("metric", "")).upper())
        wanted = (self.model_name, self.dim, self.metric)
        if stored != wanted:
            raise ModelMismatch(
                f"{where} was built with model {stored[0]!r} (dim {stored[1]}, {stored[2]}), "
                f"but this process uses model {wanted[0]!r} (dim {wanted[1]}, {wanted[2]}); "
                "vectors from different models cannot be compared. Use the same model, another "
                "collection (CLIPVEC_COLLECTION) or re-import."
            )

    def _read_index(self) -> str:
        kind, metric = "FLAT", self.metric
        try:
            names = self._call(self._client.list_indexes, self.collection, field_name="vector")
            if names:
                info = self._call(self._client.describe_index, self.collection, names[0])
                kind = str(info.get("index_type", kind)).upper()
                metric = str(info.get("metric_type", metric)).upper()
        except StoreUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - index info is advisory
            log.debug("describe_index failed: %s", exc)
        if metric != self.metric:
            raise ModelMismatch(
                f"collection {self.collection!r} at {self.uri} is indexed for {metric}, "
                f"but this process asks for {self.metric}"
            )
        return kind

    def _params_for(self, top_k: int) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.index_type == "HNSW":
            # ef 128: recall@10 1.0 on clustered 100k data for ~0.1 ms more than ef 64 (0.997)
            params["ef"] = max(128, top_k)
        elif self.index_type.startswith("IVF"):
            params["nprobe"] = 32
        return {"metric_type": self.metric, "params": params}

    # ---- reads -----------------------------------------------------------------------
    def _read_options(self) -> dict[str, Any]:
        if self._after_delete:
            self._after_delete = False
            return {"consistency_level": "Strong"}
        return {}

    def expect_foreign_writes(self) -> None:
        """Make the next read Strong: other clients (Ray import workers) wrote meanwhile, and a
        Session read only waits for this client's own writes (issue 12)."""
        self._after_delete = True

    def count(self) -> int:
        """Number of stored records.

        ``count(*)`` with an always-true filter: a 2.3 server answers an *unfiltered*
        ``count(*)`` from segment statistics that miss a delete made a moment ago (Session
        consistency), while the filtered form counts rows; ``Strong`` would also work but
        waits ~0.2-0.6 s for the server's time tick.
        """
        rows = self._call(
            self._client.query,
            self.collection,
            filter='content_hash != ""',
            output_fields=["count(*)"],
            **self._read_options(),
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def get(self, hashes: Sequence[str], *, with_vectors: bool = False) -> dict[str, ImageRecord]:
        """The stored records among ``hashes`` (missing ones are simply absent)."""
        wanted = list(dict.fromkeys(hashes))
        fields = _OUTPUT_FIELDS + (["vector"] if with_vectors else [])
        found: dict[str, ImageRecord] = {}
        for chunk in _chunks(wanted, self._in_chunk):
            rows = self._call(
                self._client.query,
                self.collection,
                filter=_in_filter(chunk),
                output_fields=fields,
                **self._read_options(),
            )
            for row in rows:
                record = self._record(row, with_vectors)
                found[record.content_hash] = record
        return found

    def get_by_path(self, path: str) -> ImageRecord | None:
        """The record that lists ``path`` among its paths (exact match), if any."""
        if not path or _has_control(path):
            return None
        rows = self._call(
            self._client.query,
            self.collection,
            filter=f"array_contains(paths, {literal(path)})",
            output_fields=_OUTPUT_FIELDS,
            limit=1,
            **self._read_options(),
        )
        return self._record(rows[0], False) if rows else None

    def iter_records(self, *, with_vectors: bool = False, batch: int = 1000) -> Iterator[ImageRecord]:
        """Every stored record, ``batch`` at a time (a query iterator, so it scales to 100k+).

        On Lite the pages are at most 200 rows whatever ``batch`` says: Lite's cost per page
        grows faster than its size (100k rows: 4.8 s in pages of 200, 16 s of 1000, 65 s of
        5000); a server pages as asked (100k: 3.5 s in pages of 1000).
        """
        fields = _OUTPUT_FIELDS + (["vector"] if with_vectors else [])
        if self._after_delete:
            self.count()  # a Strong read first, so the pages cannot show deleted rows
        iterator = self._call(
            self._client.query_iterator,
            self.collection,
            batch_size=max(1, min(int(batch), LITE_PAGE if self.is_lite else MAX_TOP_K)),
            output_fields=fields,
        )
        try:
            while True:
                rows = self._call(iterator.next, with_timeout=False)
                if not rows:
                    break
                for row in rows:
                    yield self._record(row, with_vectors)
        finally:
            try:
                iterator.close()
            except Exception as exc:  # noqa: BLE001
                log.debug("closing the query iterator failed: %s", exc)

    def _record(self, row: dict[str, Any], with_vectors: bool) -> ImageRecord:
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
        )

    # ---- writes ----------------------------------------------------------------------
    def _row(self, record: ImageRecord) -> dict[str, Any]:
        pk = record.content_hash
        if not isinstance(pk, str) or not pk or len(pk.encode()) > PK_MAX_LEN or _has_control(pk):
            raise ValueError(f"content_hash must be a non-empty string of at most {PK_MAX_LEN} bytes: {pk!r}")
        paths = [record.paths] if isinstance(record.paths, str) else [str(p) for p in record.paths]
        if not paths:
            raise ValueError(f"record {pk} has no path")
        for p in paths:
            if len(p.encode()) > PATH_MAX_LEN:
                raise ValueError(f"record {pk}: path longer than {PATH_MAX_LEN} bytes")
        if len(paths) > PATHS_MAX:
            log.warning("record %s has %d paths; keeping the first %d", pk, len(paths), PATHS_MAX)
            paths = paths[:PATHS_MAX]
        if record.vector is None:
            raise ValueError(f"record {pk} has no vector")
        vector = np.asarray(record.vector, dtype=np.float32).reshape(-1)
        if vector.shape != (self.dim,):
            raise ValueError(f"record {pk}: vector has {vector.size} dimensions, the collection {self.dim}")
        if not np.isfinite(vector).all():
            raise ValueError(f"record {pk}: vector has NaN or infinite values")
        fmt = str(record.format or "")
        if len(fmt.encode()) > FORMAT_MAX_LEN:
            raise ValueError(f"record {pk}: format name too long: {fmt!r}")
        mtime = float(record.mtime)
        return {
            "content_hash": pk,
            "path": paths[0],
            "paths": paths,
            "size": int(record.size),
            "mtime": mtime if math.isfinite(mtime) else 0.0,
            "width": int(record.width),
            "height": int(record.height),
            "format": fmt,
            "model": self.model_name,
            "vector": vector,
        }

    def upsert(self, records: Sequence[ImageRecord]) -> None:
        """Insert or replace records (by content_hash), in requests of <= 512 rows / ~1 MiB."""
        rows_by_pk: dict[str, dict[str, Any]] = {}
        for record in records:
            row = self._row(record)
            rows_by_pk.pop(row["content_hash"], None)  # last one wins, and keeps its place
            rows_by_pk[row["content_hash"]] = row
        batch: list[dict[str, Any]] = []
        size = 0
        for row in rows_by_pk.values():
            row_size = _row_bytes(row, self.dim)
            if batch and (len(batch) >= BATCH_ROWS or size + row_size > BATCH_BYTES):
                self._call(self._client.upsert, self.collection, batch)
                batch, size = [], 0
            batch.append(row)
            size += row_size
        if batch:
            self._call(self._client.upsert, self.collection, batch)

    def delete(self, hashes: Sequence[str]) -> int:
        """Delete records by content_hash; returns how many existed (and are now gone)."""
        wanted = list(dict.fromkeys(hashes))
        deleted = 0
        for chunk in _chunks(wanted, self._in_chunk):
            rows = self._call(
                self._client.query,
                self.collection,
                filter=_in_filter(chunk),
                output_fields=["content_hash"],
                **self._read_options(),
            )
            existing = [str(r["content_hash"]) for r in rows]
            if existing:
                self._call(self._client.delete, self.collection, filter=_in_filter(existing))
                self._after_delete = True
                deleted += len(existing)
        return deleted

    # ---- search ----------------------------------------------------------------------
    def search(
        self,
        vector: np.ndarray,
        *,
        top_k: int = 10,
        min_score: float | None = None,
        path_prefix: str | None = None,
    ) -> list[Hit]:
        """Nearest records to ``vector``, best first.

        ``min_score`` follows the metric: for COSINE/IP hits scoring below it are dropped,
        for L2 it is a maximum (squared) distance. ``path_prefix`` keeps hits whose primary
        path starts with it (any characters; matched exactly, no wildcards).
        """
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query.shape != (self.dim,):
            raise ValueError(f"query vector has {query.size} dimensions, the collection {self.dim}")
        if not np.isfinite(query).all():
            raise ValueError("query vector has NaN or infinite values")
        top_k = int(top_k)
        if not 1 <= top_k <= MAX_TOP_K:
            raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}")
        expr, exact_prefix = "", None
        if path_prefix:
            head = path_prefix
            if _has_control(path_prefix):
                # Not expressible in a Lite filter: narrow on the part before the first
                # control character, then check the whole prefix here.
                cut = next(i for i, ch in enumerate(path_prefix) if ch < " " or ch == "\x7f")
                head, exact_prefix = path_prefix[:cut], path_prefix
            expr = prefix_filter("path", head) if head else ""
        limit = top_k if exact_prefix is None else min(MAX_TOP_K, top_k * 4)
        while True:
            raw = self._call(
                self._client.search,
                self.collection,
                data=[query.tolist()],
                filter=expr,
                limit=limit,
                output_fields=["path", "paths", "size", "width", "height", "format"],
                search_params=self._params_for(limit),
                anns_field="vector",
                **self._read_options(),
            )
            hits = [self._hit(h) for h in (raw[0] if raw else [])]
            if exact_prefix is None:
                break
            kept = [h for h in hits if h.path.startswith(exact_prefix)]
            if len(kept) >= top_k or len(hits) < limit or limit >= MAX_TOP_K:
                hits = kept
                break
            limit = min(MAX_TOP_K, limit * 4)
        if min_score is not None:
            if self.higher_is_better:
                hits = [h for h in hits if h.score >= min_score]
            else:
                hits = [h for h in hits if h.score <= min_score]
        return hits[:top_k]

    @staticmethod
    def _hit(hit: Any) -> Hit:
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
            score=float(distance),
            content_hash=str(pk),
            size=int(value("size", 0)),
            width=int(value("width", 0)),
            height=int(value("height", 0)),
            format=str(value("format", "")),
        )
