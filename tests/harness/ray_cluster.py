"""A real multi-node Ray cluster on this machine, for tests and benchmarks.

``ray start --head`` plus ``ray start --address ...`` worker nodes: separate raylets and
object stores, each limited to ``--num-cpus``, each in its own process group with its own
temp folder and free ports, stopped by killing those groups (never a global
``ray stop``, which would also stop other people's clusters on the machine).

Manual use::

    python tests/ray_cluster.py --nodes 2     # prints the address, Ctrl+C stops
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from procs import free_ports

import clipvec

# The workers must import the same clipvec as the driver (the repo's src, not an install).
_SRC = str(Path(clipvec.__file__).resolve().parent.parent)

# Ray 2.60 turns token auth on for every new local Ray (``ray.init()`` with no address) and
# saves the token as ~/.ray/auth_token; any later ``ray start`` or driver that finds the file
# turns auth on too. In CI one test's local Ray wrote that file while another test's cluster
# ran without auth: its drivers then sent a token the cluster did not expect, and it never
# answered. The suite's Ray processes therefore carry their own token, in the environment
# only: nothing in the user's home, the same mode for every process, whatever ~/.ray holds.
SUITE_RAY_AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def ray_env(base: dict[str, str]) -> dict[str, str]:
    """``base`` with the suite's Ray token in place of any Ray auth settings of the user's."""
    kept = {k: v for k, v in base.items() if k not in ("RAY_AUTH_TOKEN_PATH", *SUITE_RAY_AUTH)}
    return {**kept, **SUITE_RAY_AUTH}


def ray_binary() -> str:
    found = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    if not Path(found).exists():
        raise RuntimeError("the ray command is missing: pip install -e '.[ray]'")
    return found


class NodeExited(RuntimeError):
    """A ``ray start`` process ended while the cluster was starting."""


class RayCluster:
    """A head node and ``nodes - 1`` worker nodes with ``cpus_per_node`` CPUs each."""

    def __init__(
        self,
        nodes: int = 2,
        cpus_per_node: int = 1,
        object_store_bytes: int = 400 * 1024 * 1024,
        log_dir: Path | None = None,
    ) -> None:
        self.nodes = nodes
        self.cpus_per_node = cpus_per_node
        self.object_store_bytes = object_store_bytes
        # Short: Ray's unix sockets live below it and their paths have a 107-byte limit.
        self.temp_root = Path(tempfile.mkdtemp(prefix="rc-", dir="/tmp"))
        self.log_dir = log_dir or self.temp_root
        self.procs: list[subprocess.Popen[bytes]] = []
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        path = os.environ.get("PYTHONPATH", "")
        return {
            **ray_env(dict(os.environ)),
            "PYTHONPATH": _SRC + (os.pathsep + path if path else ""),
            "RAY_USAGE_STATS_ENABLED": "0",
            # Marks every process of this cluster (workers start their own sessions).
            "CLIPVEC_RAY_CLUSTER": str(self.temp_root),
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }

    def _node(self, index: int, head: bool) -> subprocess.Popen[bytes]:
        (
            gcs,
            node_manager,
            object_manager,
            client,
            dash,
            agent_listen,
            agent_grpc,
            runtime_env,
            metrics,
        ) = free_ports(9)
        if head:
            self.port = gcs
        temp = self.temp_root / f"n{index}"
        temp.mkdir(exist_ok=True)
        cmd = [
            ray_binary(),
            "start",
            "--block",
            f"--num-cpus={self.cpus_per_node}",
            "--num-gpus=0",
            f"--object-store-memory={self.object_store_bytes}",
            f"--node-manager-port={node_manager}",
            f"--object-manager-port={object_manager}",
            f"--dashboard-agent-listen-port={agent_listen}",
            f"--dashboard-agent-grpc-port={agent_grpc}",
            f"--runtime-env-agent-port={runtime_env}",
            f"--metrics-export-port={metrics}",
            "--node-ip-address=127.0.0.1",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
        ]
        if head:
            cmd += [
                "--head",
                f"--port={gcs}",
                f"--ray-client-server-port={client}",
                "--include-dashboard=false",
                f"--dashboard-port={dash}",
            ]
        else:
            cmd += [f"--address={self.address}"]
        log = open(self.log_dir / f"ray-node-{index}.log", "ab")  # noqa: SIM115 - owned by the Popen
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env(), start_new_session=True
        )
        log.close()
        return proc

    def start(self, timeout: float = 120.0, attempts: int = 3) -> RayCluster:
        """Start the nodes; a node that gives up during start-up means a fresh try.

        ``ray start`` waits a fixed 30 s for its raylet to register with the GCS and then
        exits. On two busy cores (the suite's servers and models beside it) CI saw the head
        take 80 s to get that far and exit: an overloaded machine, not a broken cluster,
        so the whole cluster is stopped and started again, up to ``attempts`` times.
        """
        for attempt in range(1, attempts + 1):
            self.temp_root.mkdir(exist_ok=True)
            try:
                self._start_once(timeout)
                return self
            except NodeExited:
                self.stop()
                if attempt == attempts:
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> None:
        self.procs.append(self._node(0, head=True))
        self._wait_for_nodes(1, timeout)
        for i in range(1, self.nodes):
            self.procs.append(self._node(i, head=False))
        self._wait_for_nodes(self.nodes, timeout)

    def _wait_for_nodes(self, n: int, timeout: float) -> None:
        """Ask the cluster (from a short-lived driver) until ``n`` nodes are alive."""
        probe = (
            "import ray,sys; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False);"
            "print(sum(1 for n in ray.nodes() if n['Alive']))"
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None:
                    raise NodeExited(f"ray node {i} exited with {proc.returncode}:\n{self.log_tail(i)}")
            out = subprocess.run(
                [sys.executable, "-c", probe, self.address],
                capture_output=True,
                text=True,
                env=self.env(),
                timeout=120,
            )
            if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(n)]:
                return
            time.sleep(1.0)
        raise RuntimeError(f"the Ray cluster did not reach {n} nodes in {timeout}s:\n{self.log_tail(0)}")

    def log_tail(self, index: int, n: int = 40) -> str:
        try:
            text = (self.log_dir / f"ray-node-{index}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-n:])

    def stop(self) -> None:
        """Stop the nodes, workers before the head, each by its process group."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # raylets, workers and GCS are children in the same groups; make sure none is left.
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs = []
        for pid in self._marked_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.temp_root, ignore_errors=True)

    def _marked_pids(self) -> list[int]:
        """Processes started by this cluster that left its process groups (Ray workers call setsid)."""
        marker = f"CLIPVEC_RAY_CLUSTER={self.temp_root}".encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
            except OSError:
                continue
        return pids

    def __enter__(self) -> RayCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=1)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with RayCluster(args.nodes, args.cpus) as cluster:
        print(f"RAY_ADDRESS={cluster.address}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    _main()
