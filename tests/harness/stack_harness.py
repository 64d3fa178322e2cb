"""Helpers for the full-stack tests: drive ``tools/stack.sh`` and look inside its components."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from service_process import free_port

from clipvec.model.shapes import SHAPES_MODEL

REPO = Path(__file__).resolve().parents[2]
STACK_SH = REPO / "tools" / "stack.sh"
STACK_PY = REPO / "tools" / "stack.py"
OVERLAY = REPO / "deploy" / "milvus.yaml"
SHAPES_CLIP = SHAPES_MODEL
COLLECTION = "images"
COLORS = ("red", "green", "blue", "yellow")
SHAPE_NAMES = ("circle", "square", "triangle")
PER_CLASS = 4


class Stack:
    """One stack.sh data folder and the ports it runs on."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.env = {
            **os.environ,
            "PYTHON": sys.executable,
            "CLIPVEC_STACK_ETCD_PORT": str(free_port()),
            "CLIPVEC_STACK_S3_PORT": str(free_port()),
            "CLIPVEC_STACK_MILVUS_PORT": str(free_port()),
            "CLIPVEC_STACK_HEALTH_PORT": str(free_port()),
        }

    def sh(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["bash", str(STACK_SH), *args, "--data", str(self.data)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert done.returncode == 0, f"stack.sh {args} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    @property
    def state(self) -> dict:
        return json.loads((self.data / "stack.json").read_text())

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.env['CLIPVEC_STACK_MILVUS_PORT']}"

    def pid(self, name: str) -> int | None:
        try:
            pid = int((self.data / "run" / f"{name}.pid").read_text())
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (OSError, ValueError):
            return None
        return None if stat.rsplit(")", 1)[1].split()[0] == "Z" else pid

    def kill(self, name: str) -> int:
        """SIGKILL one component (its whole process group), as a crash or the OOM killer would."""
        pid = self.pid(name)
        assert pid is not None, f"{name} is not running"
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while self.pid(name) == pid and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.pid(name) != pid, f"{name} (pid {pid}) survived SIGKILL"
        return pid

    def _tool(self):
        """``tools/stack.py`` on this data folder (its own functions, not a second copy)."""
        spec = importlib.util.spec_from_file_location("clipvec_stack_tool", STACK_PY)
        assert spec is not None and spec.loader is not None
        module = sys.modules.get(spec.name)
        if module is None:
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        return module, module.Stack(self.data)

    def start_alone(self, name: str) -> int:
        """Start etcd or S3 and nothing else, as Compose's restart policy would; returns its pid."""
        tool, stack = self._tool()
        _, pid = tool.start_checked(stack, name)
        stack.save()
        return pid

    def milvus_lost_sessions(self) -> bool:
        """True while Milvus runs but answers "service not ready" (``stack.sh up`` restarts it)."""
        tool, stack = self._tool()
        return tool.milvus_lost_sessions(stack)

    def kill_all_recorded(self) -> None:
        """Last resort after a failed ``down``: the recorded pids only."""
        for name in ("milvus", "s3", "etcd"):
            pid = self.pid(name)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)

    def s3(self):
        import boto3

        state = self.state
        return boto3.client(
            "s3",
            endpoint_url=state["s3_endpoint"],
            aws_access_key_id=state["access_key"],
            aws_secret_access_key=yaml.safe_load(OVERLAY.read_text())["minio"]["secretAccessKey"],
            region_name="us-east-1",
        )

    def etcd_keys(self, prefix: str) -> list[str]:
        done = subprocess.run(
            [
                "etcdctl",
                f"--endpoints=127.0.0.1:{self.env['CLIPVEC_STACK_ETCD_PORT']}",
                "get",
                "--prefix",
                prefix,
                "--keys-only",
            ],
            env={**os.environ, "ETCDCTL_API": "3"},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        return [line for line in done.stdout.splitlines() if line.strip()]


def clipvec_env(stack: Stack, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "CLIPVEC_MILVUS_URI": stack.uri,
        "CLIPVEC_MODEL": str(SHAPES_CLIP),
        "CLIPVEC_COLLECTION": COLLECTION,
        **extra,
    }
