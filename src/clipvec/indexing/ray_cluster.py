"""Joining a Ray cluster for ``clipvec import --ray``, and finding the real error inside Ray's wrappers."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from clipvec.errors import ClipvecError

# Variables the workers need to read the same sources and models as the driver.
PASSED_ENV_PREFIXES = ("AWS_", "HF_", "TRANSFORMERS_", "HUGGINGFACE_")


class RayUnavailable(ClipvecError):
    status, code = 503, "ray_unavailable"


def worker_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(PASSED_ENV_PREFIXES)}


def connect(address: str | None, *, ship_code: bool = False) -> None:
    """Join the Ray cluster at ``address`` (None/"auto": RAY_ADDRESS, else a local Ray)."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable("--ray needs Ray: pip install -e '.[ray]' (or pip install 'ray[data]')") from exc
    import clipvec

    if address in (None, "", "auto"):
        address = os.environ.get("RAY_ADDRESS") or None
    runtime_env: dict[str, Any] = {"env_vars": worker_env()}
    if ship_code:  # workers then run the driver's clipvec, whatever the cluster has installed
        runtime_env["py_modules"] = [str(Path(clipvec.__file__).resolve().parent)]
    try:
        ray.init(
            address=address,
            runtime_env=runtime_env,
            logging_level=logging.WARNING,
            log_to_driver=True,
            include_dashboard=False if address is None else None,
            ignore_reinit_error=True,
        )
    except Exception as exc:  # noqa: BLE001 - any failure to join is one clear message
        raise RayUnavailable(
            f"cannot connect to the Ray cluster at {address or 'a local Ray'}: {exc}"
        ) from exc
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def disconnect() -> None:
    import ray

    ray.shutdown()


def root_cause(exc: BaseException) -> BaseException:
    """The user-code error inside Ray's wrappers (RayTaskError, UserCodeException)."""
    seen = exc
    for _ in range(10):
        inner = getattr(seen, "cause", None) or seen.__cause__
        if inner is None or inner is seen:
            break
        seen = inner
    return seen
