"""Pytest plugin: real ``bentoml serve`` processes, one per distinct setup, shared by the session.

Starting a service takes 10-20 s on 2 cores, so e2e modules that can share one ask the
``services`` fixture for a named setup instead of starting their own:

* ``services.tiny()``: the tiny random CLIP (fp32), a Milvus Lite file and an images folder
  of its own, a 4 s body idle timeout, one extra allowed origin and one extra allowed host.
  Modules sharing it must not assume an empty collection (count before and after instead).
* ``services.watching(name, seed)``: the tiny CLIP serving ``--watch`` over an images
  folder of its own, which ``seed(folder)`` fills before the service starts.
* ``services.get(name, env)``: any other setup, started once per (name, env).

Each service runs in its own temporary folder with its own BentoML home
(``service_process.py``) and is stopped at the end of the session; a service that died is
started again. Logs go to ``test-output/service-<name>.log``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from service_process import ServiceProcess

TINY_IDLE_TIMEOUT = 4.0
TINY_ALLOWED_ORIGIN = "https://photos.example.org"
TINY_ALLOWED_HOST = "clip.example.test"  # a reverse proxy's public name


class ServiceFactory:
    def __init__(self, base: Path, log_dir: Path, tiny_model: Path) -> None:
        self.base = base
        self.log_dir = log_dir
        self.tiny_model = tiny_model
        self._running: dict[tuple[str, tuple[tuple[str, str], ...]], ServiceProcess] = {}

    def get(self, name: str, env: dict[str, str], ready_path: str = "/readyz") -> ServiceProcess:
        key = (name, tuple(sorted(env.items())))
        svc = self._running.get(key)
        if svc is None or not svc.alive():
            if svc is not None:
                svc.stop()
            worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # one log per test process
            svc = ServiceProcess(env, self.log_dir / f"service-{name}{'-' + worker if worker else ''}.log")
            svc.start(ready_path=ready_path)
            self._running[key] = svc
        return svc

    def folder(self, name: str) -> Path:
        """A folder for one named setup's data, the same for the whole session."""
        path = self.base / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def tiny(self) -> ServiceProcess:
        data = self.folder("tiny")
        env = {
            "CLIPVEC_MODEL": str(self.tiny_model),
            # fp32 so that batch and single answers can be compared exactly (bf16 rounds by batch shape)
            "CLIPVEC_PRECISION": "fp32",
            "CLIPVEC_MILVUS_URI": str(data / "milvus.db"),
            "CLIPVEC_IMAGES_DIR": str(data / "images"),  # /add_image saves here, never in the repo
            "CLIPVEC_THUMB_DIR": "",  # the default: a hidden .thumbs folder inside the images folder
            "CLIPVEC_BODY_IDLE_TIMEOUT": str(TINY_IDLE_TIMEOUT),
            "CLIPVEC_ALLOWED_ORIGINS": TINY_ALLOWED_ORIGIN,
            "CLIPVEC_ALLOWED_HOSTS": TINY_ALLOWED_HOST,
        }
        svc = self.get("tiny", env)
        svc.images = data / "images"  # type: ignore[attr-defined]
        return svc

    def watching(self, name: str, seed: Callable[[Path], None]) -> ServiceProcess:
        """The tiny CLIP watching its own images folder (1 s settle), seeded before it starts.

        Each name is its own service and folder, so a test may remove its folder freely.
        """
        data = self.folder(name)
        images = data / "images"
        images.mkdir(exist_ok=True)
        seed(images)
        env = {
            "CLIPVEC_MODEL": str(self.tiny_model),
            "CLIPVEC_MILVUS_URI": str(data / "milvus.db"),
            "CLIPVEC_IMAGES_DIR": str(images),
            "CLIPVEC_WATCH": "1",
            "CLIPVEC_WATCH_SETTLE": "1",
        }
        svc = self.get(name, env)
        svc.images = images  # type: ignore[attr-defined]
        return svc

    def stop_all(self) -> None:
        """Stop every shared service at once: each shutdown takes seconds, at the end of the session."""
        running = list(self._running.values())
        with ThreadPoolExecutor(max_workers=max(1, len(running))) as pool:
            list(pool.map(ServiceProcess.stop, running))
        self._running.clear()


@pytest.fixture(scope="session")
def services(
    tmp_path_factory: pytest.TempPathFactory, test_output: Path, tiny_model_dir: Path
) -> Iterator[ServiceFactory]:
    factory = ServiceFactory(tmp_path_factory.mktemp("services"), test_output, tiny_model_dir)
    try:
        yield factory
    finally:
        factory.stop_all()
