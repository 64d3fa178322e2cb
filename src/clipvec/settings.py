"""One settings object for the whole project.

Every knob is an environment variable with the ``CLIPVEC_`` prefix (for example
``CLIPVEC_MODEL``), a key of ``clipvec.toml`` in the current folder (``model = "..."``,
written by ``clipvec init``) and, where it makes sense, a CLI flag. A flag beats the
environment, which beats the file, which beats the default: the file is what a folder
remembers, the environment and flags are for one run. Kept in one place so the service,
the importer, the search CLI and the benchmark can never disagree about defaults.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from clipvec.errors import ClipvecError
from clipvec.locations import is_lite_uri, is_s3_uri

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_FILE = "clipvec.toml"  # in the current folder; keys are the settings' names, lower-case
ENV_PREFIX = "CLIPVEC_"

Precision = Literal["auto", "fp32", "bf16", "fp16", "int8"]
Runtime = Literal["torch", "onnxruntime", "openvino"]
# What each runtime can run (README "Runtimes"): auto is torch's best choice, fp32 on the others.
RUNTIME_PRECISIONS: dict[str, tuple[str, ...]] = {
    "torch": ("auto", "fp32", "bf16", "fp16"),
    "onnxruntime": ("auto", "fp32", "int8"),
    "openvino": ("auto", "fp32", "bf16", "int8"),
}
TOP_K_MAX = 1000  # the most hits one search returns, over HTTP and on the command line
Metric = Literal["COSINE", "L2", "IP"]


class Settings(BaseSettings):
    """Runtime configuration: flags (init arguments) > ``CLIPVEC_*`` > ``./clipvec.toml`` > defaults."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", protected_namespaces=())

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The order of precedence, first wins: flags, environment, ``clipvec.toml``."""
        return init_settings, env_settings, _ConfigFileSource(settings_cls)

    # --- model / encoder ---
    model: str = Field(
        "openai/clip-vit-base-patch32",
        description="Hugging Face id or local folder of a checkpoint of a supported family (README: Choosing a model).",
    )
    device: str = Field("auto", description="'auto', 'cpu', 'cuda', 'cuda:1', ...")
    precision: Precision = Field(
        "auto", description="auto: bf16 on CPUs with native bf16, fp16 on GPU, else fp32."
    )
    threads: int = Field(0, ge=0, description="torch intra-op threads; 0 = physical cores available.")
    batch_size: int = Field(32, ge=1, le=1024, description="Images per encoder batch.")
    decode_workers: int = Field(0, ge=0, description="Decoder threads; 0 = derived from the cores.")
    runtime: Runtime = Field(
        "torch",
        description="What runs the model: torch, onnxruntime or openvino (exported once per checkpoint).",
    )
    export_cache: str = Field(
        "",
        description="Where exports and torch traces are kept; empty = $XDG_CACHE_HOME/clipvec/exports.",
    )
    torch_trace: bool = Field(
        True,
        description="torch on a CPU starts from a trace of the model kept in the export cache (made at "
        "its first start; seconds sooner, the same vectors); false: through transformers every time.",
    )

    @field_validator("runtime")
    @classmethod
    def _runtime_runs_precision(cls, runtime: str, info: ValidationInfo) -> str:
        """An unsupported runtime/precision pair is refused here, never silently run otherwise."""
        if problem := runtime_precision_problem(runtime, str(info.data.get("precision", "auto"))):
            raise ValueError(problem)
        return runtime

    # --- decoding / input limits ---
    max_pixels: int = Field(
        100_000_000, ge=1, description="Refuse images larger than this many pixels (decompression bombs)."
    )
    max_body_bytes: int = Field(50 * 1024 * 1024, ge=1, description="Largest accepted request body.")
    max_batch_items: int = Field(256, ge=1, description="Most items in one batch request.")

    # --- storage ---
    milvus_uri: str = Field("./milvus.db", description="Local file (Milvus Lite) or http://host:19530.")
    milvus_token: str = Field("", description="Milvus token ('user:password' or API key).")
    collection: str = Field("images", description="Milvus collection name.")
    metric: Metric = Field("COSINE", description="COSINE (default), L2 or IP.")
    index_type: str = Field("auto", description="auto, FLAT, IVF_FLAT, HNSW, AUTOINDEX ...")
    upsert_batch: int = Field(
        256, ge=1, description="Records per write during imports (also how much a killed run can lose)."
    )

    # --- import / search ---
    images_dir: str = Field("images", description="Folder imported by milvus_import.py.")
    top_k: int = Field(10, ge=1, le=TOP_K_MAX, description="Hits per search when none is asked for.")
    thumb_dir: str = Field("", description="Thumbnail cache for the page; empty = IMAGES_DIR/.thumbs.")
    service_url: str = Field(
        "",
        description="clipvec search asks the service at this URL (http://127.0.0.1:3000) instead of loading the model.",
    )

    # --- data safety (issue 9) ---
    max_file_bytes: int = Field(
        200 * 1024 * 1024, ge=1, description="Import skips larger files (with a reason) without reading them."
    )
    verify_writes: bool = Field(
        True, description="Read every write back (Lite: from its file), so a full disk is an error."
    )
    store_timeout: float = Field(
        5.0, gt=0, description="Seconds the service waits for Milvus before answering 503 store_unavailable."
    )

    # --- service hardening (issue 8) ---
    api_key: str = Field(
        "",
        description="When set, every route but /livez, /readyz and /metrics needs 'Authorization: Bearer <key>'.",
    )
    allowed_origins: str = Field(
        "",
        description="Comma-separated extra origins (scheme://host:port) allowed to POST besides the service's own.",
    )
    body_idle_timeout: float = Field(
        15.0, gt=0, description="Seconds a request body may stall (or fall below body_min_rate) before a 408."
    )
    body_min_rate: int = Field(
        4096,
        ge=0,
        description="Slowest accepted upload in bytes/s, averaged after body_idle_timeout seconds.",
    )
    max_concurrency: int = Field(
        128,
        ge=1,
        description="Requests processed at once (after their body arrived; image uploads and the rest counted apart); more get 429.",
    )
    decode_pixel_budget: int = Field(
        100_000_000,
        ge=1,
        description="Pixels being decoded at once in the service; more images wait their turn.",
    )
    header_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a connection has to send a complete request head (after it opens or after an answer).",
    )
    max_connections: int = Field(
        4096,
        ge=1,
        description="Open connections per worker (kept under the fd limit); past it the oldest idle one is closed.",
    )
    allowed_hosts: str = Field(
        "",
        description="Comma-separated Host names/addresses the service answers besides loopback and its own "
        "(ports ignored; '*.example.com' for subdomains; '*' for any, behind a proxy that checks Host); "
        "others get 421.",
    )

    # --- issue 12: scale-out (Ray import, service replicas) ---
    ray_encoders: int = Field(
        0, ge=0, description="Encoder actors of a --ray import; 0 = one per CPU slot (or GPU) of the cluster."
    )
    ray_decode_cpus: float = Field(
        0.25, gt=0, lt=1, description="Ray CPUs per read/decode task; an encoder actor takes 1 minus this."
    )
    ray_ship_code: bool = Field(
        False, description="Ship the driver's clipvec package with a --ray job (py_modules)."
    )
    workers: int = Field(1, ge=1, le=64, description="BentoML worker processes per service replica.")

    # --- issue 19: watch mode ---
    watch: bool = Field(
        False,
        description="clipvec serve keeps the images folder indexed while it runs (clipvec serve --watch).",
    )
    watch_settle: float = Field(
        2.0, gt=0, description="Seconds a changed file must stay the same (size, mtime) before it is indexed."
    )
    watch_interval: float = Field(
        60.0,
        gt=0,
        description="Seconds between incremental passes when the folder cannot be watched (watch limit reached), and between listings of a watched S3 prefix.",
    )

    def export_cache_dir(self) -> Path:
        """The folder of exported models (``model/runtimes/cache.py``): the setting, else the user's cache."""
        if self.export_cache:
            return Path(self.export_cache).expanduser()
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "clipvec" / "exports"

    def resolved_threads(self) -> int:
        """Threads torch should use: the configured number or the cores this process may use."""
        if self.threads > 0:
            return self.threads
        try:
            cores = max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            cores = max(1, os.cpu_count() or 1)
        # Several BentoML workers share the cores instead of each taking all of them (issue 12).
        return max(1, cores // self.workers)

    def resolved_decode_workers(self) -> int:
        """Decoder threads: the configured number, else two or one per torch thread."""
        return self.decode_workers or max(2, self.resolved_threads())

    def serving_conflict(self) -> str | None:
        """Why the service cannot start with these settings, or ``None``.

        Several workers on one Milvus Lite file: Lite is one process, so every worker but
        the one holding the file would answer 503 ``store_locked`` and ``/readyz`` would flap
        (issue 21). Refused before any worker starts, by every serving entry point.
        """
        if self.workers > 1 and is_lite_uri(self.milvus_uri):
            return (
                f"CLIPVEC_WORKERS={self.workers} cannot share the Milvus Lite file {self.milvus_uri}: "
                "a Lite file is open in one process only, so all workers but one would answer "
                "503 store_locked. Use CLIPVEC_WORKERS=1 with a Lite file, or a Milvus server "
                "(CLIPVEC_MILVUS_URI=http://host:19530) for several workers."
            )
        return None

    def thumb_dir_candidates(self) -> list[Path]:
        """Where the page may cache thumbnails, best first (the first writable one is used).

        CLIPVEC_THUMB_DIR when set; else a hidden ``.thumbs`` folder in a local images folder,
        then the user's cache (the only choice for images in S3).
        """
        if self.thumb_dir:
            return [Path(self.thumb_dir).expanduser()]
        user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "clipvec" / "thumbs"
        if is_s3_uri(self.images_dir):
            return [user_cache]
        return [Path(self.images_dir).expanduser() / ".thumbs", user_cache]


def runtime_precision_problem(runtime: str, precision: str) -> str | None:
    """Why ``runtime`` cannot run ``precision`` (one line), or None."""
    allowed = RUNTIME_PRECISIONS.get(runtime)
    if allowed is None:
        return f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIME_PRECISIONS)}"
    if precision in allowed:
        return None
    runs = [name for name, precisions in RUNTIME_PRECISIONS.items() if precision in precisions]
    return f"the {runtime} runtime cannot run precision {precision!r} (it runs {', '.join(allowed)})" + (
        f"; {precision} runs on {', '.join(runs)}" if runs else ""
    )


def absolute_path_env(settings: Settings, base: Path) -> dict[str, str]:
    """``CLIPVEC_*`` values that make the settings' relative paths absolute against ``base``.

    BentoML runs its workers in ``--working-dir``, where ``./milvus.db`` or ``images`` would
    be other folders: every serving entry point hands the workers absolute paths, resolved
    against the folder the user started from.
    """
    env: dict[str, str] = {}

    def absolute(value: str) -> str:
        return str((base / Path(value).expanduser()).resolve())

    uri = settings.milvus_uri
    if uri and is_lite_uri(uri) and not Path(uri).expanduser().is_absolute():
        env["CLIPVEC_MILVUS_URI"] = absolute(uri)
    for field in ("images_dir", "thumb_dir", "export_cache"):
        value = getattr(settings, field)
        if value and not is_s3_uri(value) and not Path(value).expanduser().is_absolute():
            env[f"CLIPVEC_{field.upper()}"] = absolute(value)
    model = settings.model
    if not Path(model).expanduser().is_absolute() and (base / model).expanduser().is_dir():
        env["CLIPVEC_MODEL"] = absolute(model)
    return env


def config_path() -> Path:
    """The ``clipvec.toml`` every entry point reads: the one in the current folder."""
    return Path.cwd() / CONFIG_FILE


def read_config_file(path: Path | None = None) -> dict[str, Any]:
    """The settings in ``clipvec.toml`` ({} when there is none); a typo is an error, not ignored."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ClipvecError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ClipvecError(f"{path} is not valid TOML: {exc}") from exc
    unknown = sorted(key for key in values if key not in Settings.model_fields)
    if unknown:
        raise ClipvecError(
            f"{path}: unknown setting {', '.join(map(repr, unknown))} "
            "(keys are the settings' names in lower case, as `clipvec config` lists them)"
        )
    return values


class _ConfigFileSource(PydanticBaseSettingsSource):
    """``clipvec.toml`` in the current folder, read anew by every ``Settings()``."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        self._values = read_config_file()
        return dict(self._values)


def setting_origins(
    flags: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Where each setting's value comes from: ``flag``, ``env``, ``clipvec.toml`` or ``default``."""
    flags = flags or {}
    env_names = {name.upper() for name in (os.environ if environ is None else environ)}
    in_file = read_config_file()
    origins: dict[str, str] = {}
    for field in Settings.model_fields:
        if field in flags:
            origins[field] = "flag"
        elif f"{ENV_PREFIX}{field.upper()}" in env_names:
            origins[field] = "env"
        elif field in in_file:
            origins[field] = CONFIG_FILE
        else:
            origins[field] = "default"
    return origins


def settings_env(settings: Settings) -> dict[str, str]:
    """Every setting as a ``CLIPVEC_*`` variable: what a child process (a BentoML worker in
    another working folder, where this folder's ``clipvec.toml`` is not) needs to see the same."""
    return {f"{ENV_PREFIX}{field.upper()}": str(value) for field, value in settings.model_dump().items()}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings read once from the environment and ``./clipvec.toml``."""
    return Settings()
