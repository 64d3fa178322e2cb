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

import atexit
import contextlib
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from clipvec.errors import ClipvecError, ModelMismatch, StorageFull, StoreUnavailable
from clipvec.locations import LITE_SUFFIX, is_lite_uri
from clipvec.store.lite_file import (
    LOW_SPACE_BYTES,
    LiteLock,
    LiteWriteCheck,
    check_lite_file,
    free_bytes,
    mount_of,
)

if TYPE_CHECKING:
    from clipvec.settings import Settings

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
METRICS = ("COSINE", "L2", "IP")
PK_MAX_LEN = 64
PATH_MAX_LEN = 65535  # VARCHAR limit; Milvus counts bytes (UTF-8)
PATHS_MAX = 4096  # ARRAY capacity limit
# Paths kept per record (identical bytes under many names): the first ones found, so a record
# stays small; search hits list only a few of them with the count (see search.HIT_PATHS_SHOWN).
PATHS_KEPT = 100
FORMAT_MAX_LEN = 64
MODEL_MAX_LEN = 1024
MAX_TOP_K = 16384
BATCH_ROWS = 512
BATCH_BYTES = 1 << 20
QUERY_IN_CHUNK = 1000  # hashes per ``content_hash in [...]`` query (Lite: LITE_PAGE)
LOAD_TIMEOUT = 60.0  # creating / loading a collection takes ~3 s on an idle 2.3 server
LITE_INDEXES = ("FLAT", "IVF_FLAT", "AUTOINDEX")
LITE_PAGE = 200  # rows per Lite query that returns the paths ARRAY (see iter_records)
VECTOR_PAGE = 2000  # rows per page when vectors come too (4 MB at 512-d)

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


# The range of each metric on unit vectors; float rounding in Milvus can step outside it
# (COSINE 1.0000001), which users then see printed (issue 10).
SCORE_RANGES: dict[str, tuple[float, float]] = {"COSINE": (-1.0, 1.0), "IP": (-1.0, 1.0), "L2": (0.0, 4.0)}


def clamp_score(metric: str, score: float) -> float:
    low, high = SCORE_RANGES.get(metric, (-math.inf, math.inf))
    return min(high, max(low, score))


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
        if code == 0x7F:  # DEL cannot be written in a filter: the bound after "~" is U+0080
            code = 0x80
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


# Milvus Lite runs one helper process per db file and pymilvus never stops it; we do, when
# the last ImageStore on that file closes (tests open hundreds of small dbs). The first
# ImageStore on a file in this process also takes the file's LiteLock and checks the file.
_lite_users: dict[str, int] = {}
_lite_locks: dict[str, LiteLock] = {}
_lite_lock = threading.Lock()


def _lite_acquire(path: str, wait: float) -> None:
    """Count one more user of ``path``; the first one locks and checks the file, then opens it."""
    with _lite_lock:
        if _lite_users.get(path, 0) == 0:
            lock = LiteLock(Path(path))
            lock.acquire(wait)
            try:
                check_lite_file(Path(path))
            except BaseException:
                lock.release()
                raise
            _lite_locks[path] = lock
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
        lock = _lite_locks.pop(path, None)
        if lock is not None:
            lock.release()


@atexit.register
def _release_all_lite() -> None:
    """At exit (Ctrl-C, SIGTERM handled by the server), leave no lock files behind."""
    for path in list(_lite_users):
        _lite_users[path] = 1
        _lite_release(path)


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
            "closed channel",
            # Milvus 2.3 while its etcd or a coordinator restarts (code 65535 on the proxy)
            "empty grpc client",
            "find no available",
            "connection refused",
            "is not ready",
        )
    )


def _is_not_loaded(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "not loaded" in text or "collection not load" in text


def drop_collection(
    uri: str,
    collection: str,
    *,
    token: str = "",
    confirm: Callable[[int | None], bool] = lambda count: True,
    timeout: float = 30.0,
) -> bool:
    """Delete ``collection`` (after ``confirm(row count)`` says yes); False if it was kept or absent.

    Needs no model: this is how a collection made with another model is started over.
    """
    from pymilvus import MilvusClient

    lite_path = None
    if is_lite_uri(uri):
        db = Path(uri).expanduser().absolute()
        if not db.exists():
            raise StoreUnavailable(f"there is no Milvus Lite file {db}")
        lite_path = str(db.resolve())
        _lite_acquire(lite_path, 0.0)
        uri = str(db)
    try:
        try:
            client = MilvusClient(uri=uri, token=token or "", timeout=10, dedicated=True)
        except Exception as exc:  # noqa: BLE001
            raise StoreUnavailable(f"cannot open Milvus at {uri}: {exc}") from exc
        try:
            if not client.has_collection(collection, timeout=timeout):
                return False
            count: int | None = None
            try:
                client.load_collection(collection, timeout=max(timeout, LOAD_TIMEOUT))
                rows = client.query(collection, filter="", output_fields=["count(*)"], timeout=timeout)
                count = int(rows[0]["count(*)"]) if rows else 0
            except Exception as exc:  # noqa: BLE001 - a broken collection can still be dropped
                log.info("cannot count %s: %s", collection, exc)
            if not confirm(count):
                return False
            client.drop_collection(collection, timeout=timeout)
            return True
        except StoreUnavailable:
            raise
        except Exception as exc:
            if _is_unavailable(exc):
                raise StoreUnavailable(f"Milvus at {uri} is unavailable: {exc}") from exc
            raise
        finally:
            client.close()
    finally:
        if lite_path is not None:
            _lite_release(lite_path)


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
        lock_wait: float = 0.0,
        verify_writes: bool = True,
        reload_timeout: float = LOAD_TIMEOUT,
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
        self.lock_wait = lock_wait
        self.reload_timeout = reload_timeout  # loading a collection a restarted server forgot
        # Every write is read back (Lite: from the file on disk; server: by key), see upsert().
        self.verify_writes = verify_writes
        self._write_check: LiteWriteCheck | None = None
        self._check_pool: ThreadPoolExecutor | None = None
        self._checks: list[Future[list[str]]] = []
        self._write_lock = threading.Lock()
        # Set when a write was lost: Lite's memory then disagrees with its file, so the
        # owner (the service) must reopen the store instead of reading phantom rows.
        self.write_failed = False
        # A 2.3 server returns no timestamp for deletes, so pymilvus' Session consistency
        # cannot see them: the first read after a delete asks for Strong instead.
        self._after_delete = False
        # A server may be replaying its log (just restarted, or we just lost it): until one
        # read with Strong consistency has succeeded, Session reads could miss stored rows
        # written by other processes and answer "no hits" for data that is there.
        self._catch_up = not self.is_lite
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
    def from_settings(cls, settings: Settings, *, model_name: str, dim: int, **options: Any) -> ImageStore:
        """The configured store; ``options`` (``lock_wait``, ``timeout``, ...) override settings."""
        kwargs: dict[str, Any] = {
            "collection": settings.collection,
            "model_name": model_name,
            "dim": dim,
            "metric": settings.metric,
            "index_type": settings.index_type,
            "token": settings.milvus_token,
            "verify_writes": settings.verify_writes,
        }
        kwargs.update(options)
        return cls(settings.milvus_uri, **kwargs)

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
            if not uri.endswith(LITE_SUFFIX):
                raise StoreUnavailable(
                    f"{uri} is neither a server URI (http://host:19530) nor a Milvus Lite file: "
                    f"a Lite file's name must end in {LITE_SUFFIX}"
                )
            db = Path(uri).expanduser().absolute()
            try:
                db.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(f"cannot create the folder for Milvus Lite file {uri}: {exc}") from exc
            try:
                import milvus_lite.server_manager  # noqa: F401
            except ImportError as exc:
                raise StoreUnavailable(
                    f"{uri} is a Milvus Lite file but milvus-lite is not installed "
                    "(pip install milvus-lite; not available on Windows: use a server URI)"
                ) from exc
            uri = str(db)
            _lite_acquire(str(db.resolve()), self.lock_wait)  # StoreLocked / StoreDamaged
            self._lite_path = str(db.resolve())
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
                result = fn(*args, **kwargs)
            except Exception as exc:
                if not _is_not_loaded(exc):
                    raise
                # A restarted server may come back without the collection loaded.
                log.warning("collection %r at %s is not loaded; loading it", self.collection, self.uri)
                self._client.load_collection(self.collection, timeout=self.reload_timeout)
                result = fn(*args, **kwargs)
        except Exception as exc:
            if _is_unavailable(exc):
                self._catch_up = not self.is_lite  # reads wait for the server to catch up
                raise StoreUnavailable(f"Milvus at {self.uri} is unavailable: {exc}") from exc
            raise
        if kwargs.get("consistency_level") == "Strong":
            self._catch_up = False  # a Strong read came back: the server has caught up
        return result

    def close(self) -> None:
        pool, self._check_pool = self._check_pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        check, self._write_check = self._write_check, None
        if check is not None:
            check.close()
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
                f"import into another collection (CLIPVEC_COLLECTION), or delete this one with "
                f"`clipvec drop --collection {self.collection}` and import again"
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
                f"collection (CLIPVEC_COLLECTION), or delete this one with `clipvec drop --collection "
                f"{self.collection}` and import again."
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
        if self._catch_up:  # every read, from every thread, until one Strong read has come back
            self._check_loaded()
            return {"consistency_level": "Strong"}
        if self._after_delete:
            self._after_delete = False
            return {"consistency_level": "Strong"}
        return {}

    def expect_foreign_writes(self) -> None:
        """Make the next read Strong: other clients (Ray import workers) wrote meanwhile, and a
        Session read only waits for this client's own writes (issue 12)."""
        self._after_delete = True

    def _check_loaded(self) -> None:
        """A server that just came back may still be loading the collection: say so (503).

        Until it has loaded every segment it answers searches from what it has, which can be
        nothing: "no hits" for data that is stored. Asked only while catching up.
        """
        state = self._call(self._client.get_load_state, self.collection)
        name = getattr(state.get("state"), "name", str(state.get("state")))
        if name == "NotLoad":
            self._call(self._client.load_collection, self.collection, timeout=self.reload_timeout)
        elif name != "Loaded":
            progress = state.get("progress")
            raise StoreUnavailable(
                f"Milvus at {self.uri} is still loading collection {self.collection!r}"
                + (f" ({progress}%)" if progress is not None else "")
            )

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

    def iter_records(self, *, with_vectors: bool = False, batch: int | None = None) -> Iterator[ImageRecord]:
        """Every stored record, a page at a time (a query iterator, so it scales to 100k+).

        The ``paths`` ARRAY is read only for records that have a second path
        (``paths[1] != ""``: copies of one image, few), the others take their one path from
        the ``path`` field. Milvus Lite reads an ARRAY in time that grows with the square of
        the page (5,000 rows with ``paths``: 8.9 s, without: 0.05 s), so that read uses small
        pages and the rest full ones: 100k records in about 1 s instead of 15 s. ``batch``
        caps the rows per page (tests use it to cross page boundaries).
        """
        cap = MAX_TOP_K if batch is None else max(1, min(int(batch), MAX_TOP_K))
        if self._after_delete or self._catch_up:
            self.count()  # a Strong read first, so the pages cannot show deleted or miss replayed rows
        fields = [f for f in _OUTPUT_FIELDS if f != "paths"] + (["vector"] if with_vectors else [])
        # Both iterators are made before either is read: a 2.3 server makes the first page of
        # an iterator wait (~1.3 s) until it has caught up with the moment the iterator was
        # made, and made together they wait once, not twice.
        everything = self._iterator(fields, "", min(cap, VECTOR_PAGE) if with_vectors else cap)
        try:
            with_copies = self._iterator(
                ["content_hash", "paths"], 'paths[1] != ""', min(cap, LITE_PAGE) if self.is_lite else cap
            )
            more_paths = {str(row["content_hash"]): row.get("paths") for row in self._drain(with_copies)}
        except BaseException:
            with contextlib.suppress(Exception):  # the first iterator is not read: release it
                everything.close()
            raise
        for row in self._drain(everything):
            paths = more_paths.get(str(row["content_hash"]))
            yield self._record({**row, "paths": paths} if paths else row, with_vectors)

    def _iterator(self, fields: list[str], expr: str, page: int) -> Any:
        """A query iterator over the rows matching ``expr`` (all rows for ""), ``page`` at a time."""
        return self._call(
            self._client.query_iterator, self.collection, batch_size=page, filter=expr, output_fields=fields
        )

    def _drain(self, iterator: Any) -> Iterator[dict[str, Any]]:
        try:
            while True:
                rows = self._call(iterator.next, with_timeout=False)
                if not rows:
                    break
                yield from rows
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
        if len(paths) > PATHS_KEPT:
            log.warning("record %s has %d paths; keeping the first %d", pk, len(paths), PATHS_KEPT)
            paths = paths[:PATHS_KEPT]
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

    def upsert(self, records: Sequence[ImageRecord], *, defer_check: bool = False) -> None:
        """Insert or replace records (by content_hash), in requests of <= 512 rows / ~1 MiB.

        Each request is read back before this returns, except with ``defer_check`` on a
        server: then the check runs in the background and ``confirm_writes()`` (or the next
        upsert) raises if it failed.
        """
        self.confirm_writes()
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
                self._write(batch, size, defer_check)
                batch, size = [], 0
            batch.append(row)
            size += row_size
        if batch:
            self._write(batch, size, defer_check)

    def _write(self, batch: list[dict[str, Any]], size: int, defer: bool = False) -> None:
        """One upsert request, confirmed: ``StorageFull`` / ``StoreUnavailable`` if it did not stick.

        Lite: its file is read with a separate read-only SQLite connection (each upserted key
        must have a new or changed row), because Lite's own reads come from
        memory and show rows whose disk write failed. Server: the keys are queried back.
        """
        keys = [row["content_hash"] for row in batch]
        with self._write_lock:  # no file read while our own write is in flight
            before: dict[str, tuple[int, bytes]] = {}
            if self.is_lite:
                self._check_space(size)
                if self.verify_writes:
                    before = self._lite_check().rows(keys)
            try:
                self._call(self._client.upsert, self.collection, batch)
            except StoreUnavailable:
                raise
            except ClipvecError:
                raise
            except Exception as exc:
                self._write_lost(len(keys), str(exc))
                raise
            if not self.verify_writes:
                return
            if self.is_lite:
                missing = self._lite_check().missing([(r["content_hash"], r["paths"]) for r in batch], before)
            elif defer:
                # A server read right after a write waits for its time tick (~0.2-0.5 s): an
                # import lets that wait overlap its encoding and checks before its next write.
                if self._check_pool is None:
                    self._check_pool = ThreadPoolExecutor(1, thread_name_prefix="clipvec-verify")
                self._checks.append(self._check_pool.submit(self._server_missing, keys))
                return
            else:
                missing = self._server_missing(keys)
            if missing:
                self._write_lost(
                    len(missing), f"{len(missing)} of {len(keys)} rows are not in the collection"
                )

    def _server_missing(self, keys: list[str]) -> list[str]:
        rows = self._call(
            self._client.query,
            self.collection,
            filter=_in_filter(keys),
            output_fields=["content_hash"],
        )
        present = {str(r["content_hash"]) for r in rows}
        return [k for k in keys if k not in present]

    def confirm_writes(self) -> None:
        """Wait for the checks of deferred writes (``upsert(defer_check=True)``); raise if one was lost."""
        checks, self._checks = self._checks, []
        lost = sum(len(check.result()) for check in checks)  # StoreUnavailable propagates
        if lost:
            self._write_lost(lost, f"{lost} rows written earlier are not in the collection")

    def _lite_check(self) -> LiteWriteCheck:
        if self._write_check is None:
            assert self._lite_path is not None
            self._write_check = LiteWriteCheck(Path(self._lite_path), self.collection)
        return self._write_check

    def _check_space(self, size: int) -> None:
        """Refuse a Lite write up front when its disk cannot hold it (Lite would lose it quietly)."""
        assert self._lite_path is not None
        db = Path(self._lite_path)
        free = free_bytes(db.parent)
        if 0 <= free < size + (256 << 10):  # the row data plus SQLite's journal pages, roughly
            raise StorageFull(
                f"no space left on {mount_of(db.parent)} (Milvus Lite file {db}): {free} bytes free; "
                "nothing of this write was stored. Free some space and run again."
            )

    def _write_lost(self, count: int, why: str) -> None:
        """A write that did not stick: say why, as precisely as we can tell."""
        self.write_failed = True
        if self.is_lite:
            assert self._lite_path is not None
            db = Path(self._lite_path)
            free = free_bytes(db.parent)
            if "full" in why.lower() or 0 <= free < LOW_SPACE_BYTES:
                raise StorageFull(
                    f"no space left on {mount_of(db.parent)} (Milvus Lite file {db}, {free} bytes free): "
                    f"{count} records were not stored. Free some space and run again."
                )
            raise StoreUnavailable(f"Milvus Lite did not store {count} records in {db}: {why}")
        if "full" in why.lower() or "no space" in why.lower():
            raise StorageFull(
                f"Milvus at {self.uri} has no space left: {count} records were not stored ({why})"
            )
        raise StoreUnavailable(f"Milvus at {self.uri} did not store {count} records: {why}")

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
                with self._write_lock:
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
            elif path_prefix.endswith("~"):  # its range also holds "...\x7f" paths: check here
                exact_prefix = path_prefix
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
            hits = [self._hit(h, self.metric) for h in (raw[0] if raw else [])]
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
    def _hit(hit: Any, metric: str = "") -> Hit:
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
        )
