"""Run a real ``bentoml serve service:vectorization`` process for HTTP tests.

The process starts in a temporary folder of its own (``--working-dir`` points BentoML at
the repository), so a setting left at its relative default (``./milvus.db``, ``images``)
lands there and never in the repository or the user's data; the folder goes at ``stop()``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from procs import free_port, stop_group

REPO_ROOT = Path(__file__).resolve().parents[2]


class ServiceProcess:
    """The original command, run as a child process with its own settings."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "BENTOML_DO_NOT_TRACK": "True", **env}
        self._home_given = "BENTOML_HOME" in env  # the test session's own home is in os.environ
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.cwd: Path | None = None

    def start(self, timeout: float = 180.0, ready_path: str = "/readyz") -> ServiceProcess:
        """Start and wait for ``ready_path`` to answer 200 (``/livez`` when the store is meant to be down)."""
        bentoml = Path(sys.executable).with_name("bentoml")
        cmd = [
            str(bentoml),
            "serve",
            "service:vectorization",
            "--port",
            str(self.port),
            "--host",
            "127.0.0.1",
            "--working-dir",
            str(REPO_ROOT),
        ]
        self.cwd = Path(tempfile.mkdtemp(prefix="clipvec-service-"))
        # A BentoML home of its own: every `bentoml serve` empties its home's Prometheus folder
        # at start, which would wipe the metrics of another service running beside this one.
        # (Not `setdefault`: the session's home is in os.environ, so every service of a test
        # process shared it, and a service started later emptied an earlier one's /metrics.)
        if not self._home_given:
            self.env["BENTOML_HOME"] = str(self.cwd / "bentoml-home")
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.cwd,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code, tail = self.proc.returncode, self.log_tail()
                self.stop()  # its folder goes too
                raise RuntimeError(f"bentoml serve exited with {code}:\n{tail}")
            try:
                if requests.get(self.url + ready_path, timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"bentoml serve not ready after {timeout}s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            stop_group(self.proc, timeout=20)
        self._log.close()
        self.proc = None
        if self.cwd is not None:
            shutil.rmtree(self.cwd, ignore_errors=True)
            self.cwd = None

    def worker_rss(self) -> int:
        """The largest RSS among the service's processes (the model worker), in bytes."""
        import psutil

        assert self.proc is not None
        root = psutil.Process(self.proc.pid)
        sizes = []
        for proc in [root, *root.children(recursive=True)]:
            try:
                sizes.append(proc.memory_info().rss)
            except psutil.NoSuchProcess:
                continue
        return max(sizes)

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
