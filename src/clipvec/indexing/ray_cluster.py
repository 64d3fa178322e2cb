"""Joining a Ray cluster for ``clipvec import --ray``, and finding the real error inside Ray's wrappers."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from clipvec.errors import ClipvecError

# Variables the workers need to read the same sources and models as the driver.
PASSED_ENV_PREFIXES = ("AWS_", "HF_", "TRANSFORMERS_", "HUGGINGFACE_")


class RayUnavailable(ClipvecError):
    status, code = 503, "ray_unavailable"


def worker_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(PASSED_ENV_PREFIXES)}


# How long a cluster's address may take to accept a TCP connection before we call it dead.
REACH_TIMEOUT_S = 5.0


def ray_address(address: str | None) -> str:
    """What ``ray.init`` gets: the address given, else RAY_ADDRESS, else ``"local"`` (a new local Ray).

    Never Ray's own default (None): that joins the cluster a past ``ray start`` recorded in
    ``$RAY_TMPDIR/ray/ray_current_cluster`` (default /tmp/ray), and when that cluster is gone
    ``ray.init`` retries for minutes (10 seen) instead of failing.
    """
    if address in (None, "", "auto"):
        address = os.environ.get("RAY_ADDRESS") or None
    return address or "local"


def check_reachable(address: str, timeout: float = REACH_TIMEOUT_S) -> None:
    """Fail in seconds when nothing listens at ``host:port`` / ``ray://host:port`` (ray.init would hang)."""
    host_port = address.split("://", 1)[-1].split("/", 1)[0]
    host, sep, port = host_port.rpartition(":")
    if not sep or not port.isdigit():
        return  # no port to try: Ray's own parsing and error
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RayUnavailable(
            f"cannot connect to the Ray cluster at {address}: nothing answers there ({exc}); "
            "start it, or leave out the address (and RAY_ADDRESS) for a local Ray"
        ) from exc


def connect(address: str | None, *, ship_code: bool = False) -> None:
    """Join the Ray cluster at ``address`` (None/"auto": RAY_ADDRESS, else a new local Ray)."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable("--ray needs Ray: pip install -e '.[ray]' (or pip install 'ray[data]')") from exc
    import clipvec

    address = ray_address(address)
    local = address == "local"
    if not local:
        check_reachable(address)
    runtime_env: dict[str, Any] = {"env_vars": worker_env()}
    if ship_code:  # workers then run the driver's clipvec, whatever the cluster has installed
        runtime_env["py_modules"] = [str(Path(clipvec.__file__).resolve().parent)]
    try:
        ray.init(
            address=address,
            runtime_env=runtime_env,
            logging_level=logging.WARNING,
            log_to_driver=True,
            include_dashboard=False if local else None,
            ignore_reinit_error=True,
        )
    except Exception as exc:  # noqa: BLE001 - any failure to join is one clear message
        where = "a local Ray" if local else address
        raise RayUnavailable(f"cannot connect to the Ray cluster at {where}: {exc}") from exc
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
