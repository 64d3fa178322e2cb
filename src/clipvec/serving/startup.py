"""What must hold before BentoML starts its workers (issue 10).

BentoML restarts a worker that fails in ``__init__`` forever, printing a traceback each
time, while the port accepts connections that never answer. So the serving entry points
(``make run``, ``clipvec serve`` and the original ``bentoml serve service:vectorization``)
check here, once, in the process that starts the workers:

* the model can be found: a local checkpoint folder with its files, or a hub checkpoint
  that is cached or can be downloaded now (``clipvec.model.checkpoint.resolve_model``).
  Otherwise one message with the ways out and exit code 2;
* the settings (``CLIPVEC_*``, ``./clipvec.toml``) are handed to the workers as ``CLIPVEC_*``,
  and relative paths in them (``./milvus.db``, ``images``, a model folder) are made
  absolute against the directory the user started from, because BentoML runs its workers
  in ``--working-dir``. Every entry point then shares one database with the CLI;
* the settings can serve at all (``Settings.serving_conflict``: several workers on one
  Milvus Lite file). Otherwise one message and exit code 2.

``@bentoml.on_deployment`` hooks run in ``bentoml serve``'s own process before its process
manager (circus) starts any worker, so a refusal here is printed once, to the terminal
that ran the command, and no worker ever starts.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import resource
import signal
import sys
from pathlib import Path

from clipvec.errors import ModelLoadError
from clipvec.model.checkpoint import resolve_model
from clipvec.settings import absolute_path_env, get_settings, settings_env

EXIT_MODEL_UNAVAILABLE = 2
EXIT_SETTINGS_REFUSED = 2  # as the CLI's exit code for a setting it refuses


# --------------------------------------------------------------------------- paths
# --------------------------------------------------------------------------- serving
def prepare_to_serve() -> None:
    """Run once in BentoML's main process, before any worker starts (``@bentoml.on_deployment``).

    Makes relative settings absolute (workers run in ``--working-dir``), checks that the
    settings can serve and the model; on failure prints one message and exits with code 2
    instead of letting BentoML start (and restart) workers that can never work.
    """
    with contextlib.suppress(ValueError):  # only possible in the main thread (bentoml serve's CLI is)
        signal.signal(WORKER_FAILED_SIGNAL, _a_worker_cannot_start)
    # Read anew here, in the start folder: BentoML imported the service (which read the settings)
    # inside --working-dir, where this folder's clipvec.toml is not (BentoML counts the
    # workers from that import: `workers` in the start folder's clipvec.toml reaches
    # `bentoml serve --working-dir ELSEWHERE` only through clipvec serve / make run).
    get_settings.cache_clear()
    settings = get_settings()
    # Every setting travels to the workers as CLIPVEC_*: they run in --working-dir too.
    os.environ.update(settings_env(settings))
    os.environ.update(absolute_path_env(settings, Path.cwd()))
    get_settings.cache_clear()
    if conflict := get_settings().serving_conflict():
        print(f"clipvec: {conflict}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_SETTINGS_REFUSED)
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


def raise_open_files_limit() -> int:
    """Raise this process's open-files soft limit to its hard limit; the new soft limit.

    Every client connection takes a file descriptor, and the common soft limit (1,024) let
    1,100 idle sockets lock every client out (issue 21). Run where the service module is
    imported: BentoML's main process (the workers it spawns inherit the limit) and each worker.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:  # e.g. macOS refuses RLIM_INFINITY: keep the soft limit
            logging.getLogger("clipvec.service").warning("cannot raise the open-files limit: %s", exc)
    return soft


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
