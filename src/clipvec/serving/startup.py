"""What must hold before BentoML starts its workers (issue 10).

BentoML restarts a worker that fails in ``__init__`` forever, printing a traceback each
time, while the port accepts connections that never answer. So the serving entry points
(``make run``, ``clipvec serve`` and the original ``bentoml serve service:vectorization``)
check here, once, in the process that starts the workers:

* the model can be found: a local checkpoint folder with its files, or a hub checkpoint
  that is cached or can be downloaded now. Otherwise one message with the ways out and
  exit code 2;
* relative paths in the settings (``./milvus.db``, ``images``, a model folder) are made
  absolute against the directory the user started from, because BentoML runs its workers
  in ``--working-dir``. Every entry point then shares one database with the CLI.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import struct
import sys
import zipfile
from pathlib import Path

from clipvec.errors import ModelLoadError
from clipvec.locations import is_lite_uri, is_s3_uri
from clipvec.settings import Settings, get_settings

EXIT_MODEL_UNAVAILABLE = 2
WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
# What a hub download fetches: config, tokenizer, preprocessor and weights (not TF/Flax copies).
_HUB_PATTERNS = ["*.json", "*.txt", "*.safetensors"]
_REPO_ROOT = Path(__file__).resolve().parents[3]
SHAPES_MODEL = _REPO_ROOT / "tests" / "assets" / "shapes-clip"


# --------------------------------------------------------------------------- paths
def absolute_path_env(settings: Settings, base: Path) -> dict[str, str]:
    """``CLIPVEC_*`` values that make the settings' relative paths absolute against ``base``."""
    env: dict[str, str] = {}

    def absolute(value: str) -> str:
        return str((base / Path(value).expanduser()).resolve())

    uri = settings.milvus_uri
    if uri and is_lite_uri(uri) and not Path(uri).expanduser().is_absolute():
        env["CLIPVEC_MILVUS_URI"] = absolute(uri)
    for field in ("images_dir", "thumb_dir"):
        value = getattr(settings, field)
        if value and not is_s3_uri(value) and not Path(value).expanduser().is_absolute():
            env[f"CLIPVEC_{field.upper()}"] = absolute(value)
    model = settings.model
    if not Path(model).expanduser().is_absolute() and (base / model).expanduser().is_dir():
        env["CLIPVEC_MODEL"] = absolute(model)
    return env


# --------------------------------------------------------------------------- the model
def _looks_like_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~", ".")) or model.count("/") > 1 or "\\" in model


def _safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file cannot be loaded (cut short, not safetensors), or None."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            if header_len > size - 8 or header_len > 100_000_000:
                return f"{path.name} is not a safetensors file (or is cut short)"
            header = json.loads(f.read(header_len))
    except (OSError, struct.error, ValueError) as exc:
        return f"{path.name} cannot be read: {exc}"
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + header_len + end > size:
        return f"{path.name} is cut short ({size} of {8 + header_len + end} bytes)"
    return None


def folder_problems(folder: Path) -> list[str]:
    """What a CLIP checkpoint folder lacks (empty when it looks loadable)."""
    if not folder.is_dir():
        return [f"{folder} is not a folder"]
    problems: list[str] = []
    config = folder / "config.json"
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
        if model_type not in (None, "clip"):
            problems.append(f"config.json describes a {model_type!r} model, not CLIP")
    except FileNotFoundError:
        problems.append("no config.json")
    except (OSError, ValueError) as exc:
        problems.append(f"config.json cannot be read: {exc}")
    weights = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]
    if not weights:
        problems.append("no weights (model.safetensors or pytorch_model.bin)")
    elif weights[0].suffix == ".safetensors" and (why := _safetensors_problem(weights[0])):
        problems.append(why)
    elif weights[0].name == "pytorch_model.bin" and not zipfile.is_zipfile(weights[0]):
        problems.append("pytorch_model.bin is not a PyTorch checkpoint (or is cut short)")
    has_tokenizer = (folder / "tokenizer.json").is_file() or (
        (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()
    )
    if not has_tokenizer:
        problems.append("no tokenizer files (tokenizer.json, or vocab.json and merges.txt)")
    return problems


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def resolve_model(model: str) -> Path:
    """The local folder of ``model`` (a folder, or a hub id cached or downloaded now).

    Raises ``ModelLoadError`` with a message that says what to do.
    """
    local = Path(model).expanduser()
    if local.is_dir():
        if problems := folder_problems(local):
            raise ModelLoadError(
                model_help(
                    model, f"the folder {local} is not a usable CLIP checkpoint: " + "; ".join(problems)
                )
            )
        return local
    if local.exists() or _looks_like_path(model):
        raise ModelLoadError(model_help(model, f"there is no folder {local}"))

    from huggingface_hub import snapshot_download

    try:
        cached = Path(snapshot_download(model, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure means "not in the local cache"
        cached = None
    if cached is not None and not folder_problems(cached):
        return cached
    if _hub_offline():
        raise ModelLoadError(
            model_help(
                model,
                "it is not a local folder, it is not in the Hugging Face cache, and the hub is "
                "switched off (HF_HUB_OFFLINE is set)",
            )
        )
    try:
        folder = Path(snapshot_download(model, allow_patterns=_HUB_PATTERNS))
        if not any((folder / name).is_file() for name in WEIGHT_FILES):
            folder = Path(snapshot_download(model, allow_patterns=_HUB_PATTERNS + ["pytorch_model.bin*"]))
    except Exception as exc:  # noqa: BLE001 - network, auth, unknown repo: all end in the same advice
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            model_help(model, f"it is not a local folder and the Hugging Face hub gave no copy ({reason})")
        ) from exc
    if problems := folder_problems(folder):
        raise ModelLoadError(
            model_help(model, "the downloaded checkpoint is incomplete: " + "; ".join(problems))
        )
    return folder


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def model_help(model: str, why: str) -> str:
    """The one message for a model that cannot load: what went wrong and the three ways out."""
    why = why.strip().rstrip(".")
    lines = [
        f"cannot load the CLIP model {model!r}: {why}.",
        "Ways out (the same for clipvec serve, bentoml serve, or --model on any clipvec command):",
        "  - a CLIP checkpoint folder you have:        CLIPVEC_MODEL=/path/to/clip-vit-base-patch32 make run",
        "  - a random-weight ViT-B/32 (no meaning):    clipvec make-model ./random-clip && CLIPVEC_MODEL=./random-clip make run",
    ]
    if SHAPES_MODEL.is_dir():
        lines.append(
            f"  - a small CLIP that really searches shapes: CLIPVEC_MODEL={_shown(SHAPES_MODEL)} make run   (or: make demo)"
        )
    lines.append("Online, CLIPVEC_MODEL may also be a Hugging Face id (downloaded once, then cached).")
    return "\n".join(lines)


# --------------------------------------------------------------------------- serving
def prepare_to_serve() -> None:
    """Run once in BentoML's main process, before any worker starts (``@bentoml.on_deployment``).

    Makes relative settings absolute (workers run in ``--working-dir``) and checks the
    model; on failure prints one message and exits with code 2 instead of letting BentoML
    restart workers that can never start.
    """
    with contextlib.suppress(ValueError):  # only possible in the main thread (bentoml serve's CLI is)
        signal.signal(WORKER_FAILED_SIGNAL, _a_worker_cannot_start)
    settings = get_settings()
    os.environ.update(absolute_path_env(settings, Path.cwd()))
    get_settings.cache_clear()
    try:
        folder = resolve_model(get_settings().model)
    except ModelLoadError as err:
        print(f"clipvec: {err.detail}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_MODEL_UNAVAILABLE) from None
    settings = get_settings()
    if folder != Path(settings.model):
        # A hub id: workers load the same snapshot from the cache, without asking the hub again.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(
        f"clipvec: model {settings.model}; collection {settings.collection!r} in {settings.milvus_uri}; "
        f"images in {settings.images_dir}",
        file=sys.stderr,
        flush=True,
    )


# A worker whose model passed the check above but still fails to load (a checkpoint whose
# shapes do not match its config, say) tells the main process with this signal, which circus
# (BentoML's process manager) leaves alone; the main process then stops and exits with 2.
WORKER_FAILED_SIGNAL = signal.SIGUSR2


def _a_worker_cannot_start(signum: int, frame: object) -> None:
    atexit.register(_exit_model_unavailable)  # registered last, so it runs first at exit
    os.kill(os.getpid(), signal.SIGTERM)  # circus's own graceful stop


def _exit_model_unavailable() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_MODEL_UNAVAILABLE)


def stop_server_from_worker(message: str) -> None:
    """In a BentoML worker that cannot load its model: say why once and stop the whole server.

    Without this, BentoML respawns the worker forever, each time with tracebacks, while the
    port accepts connections that are never answered. Outside a BentoML worker: no-op.
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is None or not spec.name.startswith("_bentoml_impl.worker"):
        return
    logging.getLogger("clipvec.service").error("%s", message)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os.kill(os.getppid(), WORKER_FAILED_SIGNAL)
    os._exit(EXIT_MODEL_UNAVAILABLE)
