"""Start and stop the real Milvus 2.3.5 standalone server for tests and benchmarks.

The PyPI package ``milvus==2.3.5`` ships the standalone binary (with embedded etcd, local
storage and rocksmq) as ``.lzma`` files plus a config template. Its own launcher waits up
to 180 s on a server that already crashed and cannot stop it quickly, so this module
starts the binary itself:

* the binaries are unpacked once into a cache folder (``$CLIPVEC_MILVUS_CACHE`` or
  ``~/.cache/clipvec/milvus-<version>``), shared by all servers;
* every server gets its own data folder and its own ports (free ones unless given), so
  several servers (test sessions, benchmarks) can run side by side;
* ``common.gracefulStopTimeout`` is 10 s so SIGTERM really stops it;
* ready = ``/healthz`` answers 200 *and* a real pymilvus call succeeds;
* an immediate crash (the "leader changed" panic, about 1 start in 14) is noticed from the
  pid and the start is retried (3 attempts by default), each with fresh ports;
* stop = SIGTERM, then SIGKILL after a timeout; logs go to ``<data>/logs/milvus.log``
  and their tail is part of the error when a start fails.

Manual use (defaults to the usual ports 19530 / 9091)::

    tools/milvus_server.sh [--port 19530] [--health-port 9091] [--data DIR]
"""

from __future__ import annotations

import argparse
import atexit
import ctypes
import fcntl
import hashlib
import lzma
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from procs import free_port, port_is_free, stop_group

__all__ = [
    "SERVER_ID_DIR",
    "MilvusServer",
    "MilvusStartError",
    "forget_server_id",
    "leftover_server_ids",
    "milvus_package_dir",
    "unpack_binaries",
]

# Milvus 2.3.5 writes each server's id to /tmp/milvus/server_id_<pid>, whatever TMPDIR says,
# and never removes it: the harness removes a stopped server's file, and the suite checks that
# it leaves none behind (tests/harness/tree_state.py).
SERVER_ID_DIR = Path("/tmp/milvus")


def forget_server_id(pid: int) -> None:
    """Remove the server id file of the Milvus process ``pid``, which has ended."""
    (SERVER_ID_DIR / f"server_id_{pid}").unlink(missing_ok=True)


def leftover_server_ids() -> set[str]:
    """The server id files of processes that have ended (a running server's file is its own)."""
    ended = set()
    for path in SERVER_ID_DIR.glob("server_id_*"):
        pid = path.name.removeprefix("server_id_")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            ended.add(path.name)
    return ended


# Internal ports of the standalone process; all of them must be free, not only the proxy's.
_PORT_KEYS = (
    "etcd_port",
    "root_coord_port",
    "proxy_port",
    "proxy_internal_port",
    "query_coord_port",
    "query_node_port",
    "index_coord_port",
    "index_node_port",
    "data_coord_port",
    "data_node_port",
)
_TEMPLATE_VAR = re.compile(r"\{\{\s*([A-Za-z_]+)\s*(?:\(\w+\))?\s*(?::\s*([^}]*?))?\s*\}\}")


def set_config_values(text: str, values: dict[str, object]) -> str:
    """Set ``section.sub.key`` values in milvus.yaml text (2-space indents, keys must exist)."""
    missing = set(values)
    out: list[str] = []
    path: list[str] = []
    for line in text.splitlines():
        match = re.match(r"^( *)([A-Za-z0-9_]+):(.*)$", line)
        if match and not line.lstrip().startswith("#"):
            level = len(match.group(1)) // 2
            path = [*path[:level], match.group(2)]
            dotted = ".".join(path)
            if dotted in values:
                value = values[dotted]
                text_value = ("true" if value else "false") if isinstance(value, bool) else str(value)
                line = f"{match.group(1)}{match.group(2)}: {text_value}"
                missing.discard(dotted)
        out.append(line)
    if missing:
        raise MilvusStartError(f"config keys not found in the template: {sorted(missing)}")
    return "\n".join(out) + "\n"


class MilvusStartError(RuntimeError):
    """The server did not become ready (crashed every attempt, or timed out)."""


def milvus_package_dir() -> Path:
    """Folder of the installed ``milvus`` PyPI package (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("milvus")
    if spec is None or not spec.origin:
        raise MilvusStartError("the 'milvus' package (pip install milvus==2.3.5) is not installed")
    return Path(spec.origin).parent


def _package_version(pkg: Path) -> str:
    match = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", (pkg / "__init__.py").read_text())
    return match.group(1) if match else "unknown"


def unpack_binaries(cache_dir: Path | None = None) -> Path:
    """Decompress the packaged binaries once (md5-checked, locked); return the bin folder."""
    pkg = milvus_package_dir()
    if cache_dir is None:
        env = os.environ.get("CLIPVEC_MILVUS_CACHE")
        cache_dir = (
            Path(env) if env else Path.home() / ".cache" / "clipvec" / f"milvus-{_package_version(pkg)}"
        )
    bin_dir = cache_dir / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    src_dir = pkg / "data" / "bin"
    with open(cache_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test sessions unpack once
        for src in sorted(src_dir.glob("*.lzma")):
            target = bin_dir / src.name[: -len(".lzma")]
            marker = target.with_name(target.name + ".md5")
            digest = hashlib.md5(src.read_bytes()).hexdigest()
            if target.exists() and marker.exists() and marker.read_text().strip() == digest:
                continue
            tmp = target.with_name(target.name + ".partial")
            with lzma.open(src) as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
            tmp.chmod(0o755)
            tmp.replace(target)
            marker.write_text(digest)
    return bin_dir


try:  # resolved before any fork: the child must do as little as possible
    _prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
except OSError:  # not glibc Linux
    _prctl = None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: a killed test run leaves no server behind


class MilvusServer:
    """One Milvus 2.3.5 standalone process with its own data folder and ports.

    ``start()`` / ``stop()`` can be called repeatedly (data and ports are kept, so the URI
    stays valid across a restart: use it for "Milvus went down" tests). ``close()`` (or
    leaving the ``with`` block) stops it and deletes a data folder it created itself.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        health_port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        graceful_stop_timeout: int = 10,
        session_ttl: int = 10,
        extra_config: dict[str, object] | None = None,
        start_timeout: float = 90.0,
        stop_timeout: float = 20.0,
        attempts: int = 3,
        die_with_parent: bool = True,
        quiet: bool = True,
    ) -> None:
        self.host = "127.0.0.1"
        self._fixed_port, self._fixed_health_port = port, health_port
        self._own_data = data_dir is None
        # Absolute: the binary runs with the data folder as its working directory, so a
        # relative path (README's `--data milvus-data`) would point every config path and
        # MILVUSCONF at a folder that does not exist, and the server crashed at start.
        self.data_dir = (
            Path(tempfile.mkdtemp(prefix="clipvec-milvus-"))
            if data_dir is None
            else Path(data_dir).absolute()
        )
        self.graceful_stop_timeout = graceful_stop_timeout
        self.session_ttl = session_ttl
        self.extra_config = dict(extra_config or {})  # {"queryCoord.checkInterval": 200, ...}
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.attempts = max(1, attempts)
        self.die_with_parent = die_with_parent
        self.quiet = quiet
        self.ports: dict[str, int] = {}  # every listening port, by template name
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None  # wall time of the last successful start()
        self.start_attempts = 0  # attempts the last start() needed
        self._log_fh = None
        self._atexit_registered = False

    # ---- public properties -------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.ports.get("proxy_port", 0)

    @property
    def uri(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def health_url(self) -> str:
        return f"http://{self.host}:{self.health_port}/healthz"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "logs" / "milvus.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # ---- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> MilvusServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> MilvusServer:
        """Start (or restart) the server and wait until it answers; retry a crash at start."""
        if self.running:
            return self
        bin_dir = unpack_binaries()
        t0 = time.monotonic()
        errors: list[str] = []
        # Data from an earlier successful start is kept across attempts (a restart); a
        # first start that crashed half-way leaves etcd data that breaks the next attempt.
        fresh = not self._has_data()
        for attempt in range(1, self.attempts + 1):
            self.start_attempts = attempt
            if attempt > 1 and fresh:
                shutil.rmtree(self.data_dir / "data", ignore_errors=True)
            self._choose_ports()
            self._write_config()
            self._spawn(bin_dir)
            try:
                self._wait_ready()
            except MilvusStartError as exc:
                errors.append(f"attempt {attempt}: {exc}")
                self._terminate()
                continue
            self.start_seconds = time.monotonic() - t0
            if not self._atexit_registered:
                atexit.register(self.close)  # an interpreter exit without close() cleans up too
                self._atexit_registered = True
            if not self.quiet:
                print(
                    f"milvus 2.3.5 ready at {self.uri} (health {self.health_url}) in "
                    f"{self.start_seconds:.1f}s, attempt {attempt}, pid {self.proc.pid}, data {self.data_dir}",
                    file=sys.stderr,
                )
            return self
        raise MilvusStartError(
            "Milvus did not start:\n  "
            + "\n  ".join(errors)
            + f"\n--- last lines of {self.log_path} ---\n"
            + self.log_tail()
        )

    def stop(self) -> None:
        """Stop the process (SIGTERM, SIGKILL after ``stop_timeout``); keep data and ports."""
        self._terminate()

    def close(self) -> None:
        """Stop and delete the data folder if this object created it."""
        self._terminate()
        if self._own_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # ---- internals ---------------------------------------------------------------------
    def _has_data(self) -> bool:
        return (self.data_dir / "data" / "etcd.data").is_dir()

    def _choose_ports(self) -> None:
        """Fixed ports as given; otherwise the previous port while it is free, else a new one.

        Keeping them across a restart keeps the URI valid and the embedded etcd happy (its
        peer URL is stored with its data).
        """
        chosen: dict[str, int] = {}
        fixed = {"proxy_port": self._fixed_port, "health_port": self._fixed_health_port}
        for key in (*_PORT_KEYS, "etcd_peer_port", "health_port"):
            port = fixed.get(key)
            if port and not port_is_free(port):
                raise MilvusStartError(f"{key.replace('_', ' ')} {port} is already in use")
            if not port:
                previous = self.ports.get(key)
                if previous and previous not in chosen.values() and port_is_free(previous):
                    port = previous
                else:
                    port = free_port()
                    while port in chosen.values():
                        port = free_port()
            chosen[key] = port
        self.ports = chosen

    @property
    def health_port(self) -> int:
        return self.ports.get("health_port", 0)

    def _write_config(self) -> None:
        pkg = milvus_package_dir()
        conf_dir = self.data_dir / "configs"
        logs_dir = self.data_dir / "logs"
        storage = self.data_dir / "data"
        for d in (conf_dir, logs_dir, storage, self.data_dir / "run"):
            d.mkdir(parents=True, exist_ok=True)
        values: dict[str, str] = {k: str(v) for k, v in self.ports.items()}
        values.update(
            etcd_log_path=str(logs_dir / "etcd.log"),
            system_log_path="",  # empty: log to stdout, which goes to milvus.log
            etcd_data_dir=str(storage / "etcd.data"),
            local_storage_dir=str(storage),
            rocksmq_data_dir=str(storage / "rocksmq"),
        )

        def render(match: re.Match[str]) -> str:
            key, default = match.group(1), match.group(2)
            if key in values:
                return values[key]
            if default is None:
                raise MilvusStartError(f"config template variable {key} has no value")
            return default

        text = _TEMPLATE_VAR.sub(render, (pkg / "data" / "config.yaml.template").read_text())
        overrides: dict[str, object] = {
            "common.gracefulStopTimeout": self.graceful_stop_timeout,
            # A restart waits until the previous run's sessions (etcd leases) expire: the
            # default 30 s TTL makes a restart take ~55 s, 10 s about 4-10 s.
            "common.session.ttl": self.session_ttl,
        }
        overrides.update(self.extra_config)
        text = set_config_values(text, overrides)
        # embedded etcd: its own client/peer ports (the defaults 2379/2380 may be taken)
        etcd_conf = conf_dir / "embedEtcd.yaml"
        etcd_conf.write_text(
            f"listen-client-urls: http://127.0.0.1:{self.ports['etcd_port']}\n"
            f"advertise-client-urls: http://127.0.0.1:{self.ports['etcd_port']}\n"
            f"listen-peer-urls: http://127.0.0.1:{self.ports['etcd_peer_port']}\n"
            f"initial-advertise-peer-urls: http://127.0.0.1:{self.ports['etcd_peer_port']}\n"
            f"initial-cluster: default=http://127.0.0.1:{self.ports['etcd_peer_port']}\n"
        )
        text = re.sub(
            r"(?m)^(  use:\n    embed: true.*\n)",
            rf"\g<1>  config:\n    path: {etcd_conf}\n",
            text,
            count=1,
        )
        (conf_dir / "milvus.yaml").write_text(text)
        shutil.copy(pkg / "data" / "glog.conf", conf_dir / "glog.conf")

    def _spawn(self, bin_dir: Path) -> None:
        env = os.environ.copy()
        env.update(
            DEPLOY_MODE="STANDALONE",
            METRICS_PORT=str(self.health_port),
            MILVUS_RUN_DIR=str(self.data_dir / "run"),
            MILVUSCONF=str(self.data_dir / "configs") + "/",
            LD_LIBRARY_PATH=f"{bin_dir}:{env.get('LD_LIBRARY_PATH', '')}".rstrip(":"),
        )
        # the binary reads configs/ relative to its working directory as well
        self._log_fh = open(self.log_path, "ab")  # noqa: SIM115 - closed in _terminate
        self._log_fh.write(f"\n==== clipvec harness: start {time.ctime()} ports {self.ports} ====\n".encode())
        self._log_fh.flush()
        self.proc = subprocess.Popen(
            [str(bin_dir / "milvus"), "run", "standalone"],
            cwd=self.data_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our signals reach it alone, Ctrl+C in a terminal does not
            # note: the signal comes when the *thread* that started it ends; start servers
            # from the main thread or pass die_with_parent=False
            preexec_fn=_die_with_parent if self.die_with_parent and _prctl else None,
        )

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        healthy = False
        last = "no answer yet"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise MilvusStartError(f"process {self.proc.pid} exited with {code} while starting")
            if not healthy:
                try:
                    with urllib.request.urlopen(self.health_url, timeout=2) as resp:
                        healthy = resp.status == 200
                except (OSError, urllib.error.URLError) as exc:
                    last = f"health: {exc}"
            if healthy:
                try:
                    self._client_probe()
                except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
                    last = f"client: {exc}"
                else:
                    time.sleep(0.5)  # a panic right after the first answer still counts as a crash
                    if self.proc.poll() is None:
                        return
                    continue
            time.sleep(0.2)
        raise MilvusStartError(f"not ready after {self.start_timeout:.0f}s ({last})")

    def _client_probe(self) -> None:
        from pymilvus import MilvusClient

        client = MilvusClient(uri=self.uri, timeout=5)
        try:
            client.list_collections(timeout=5)
        finally:
            client.close()

    def _terminate(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            stop_group(proc, timeout=self.stop_timeout)
        elif proc is not None:
            proc.wait()
        if proc is not None:
            forget_server_id(proc.pid)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run the Milvus 2.3.5 standalone server (from the PyPI wheel)."
    )
    parser.add_argument("--port", type=int, default=19530, help="gRPC port (0 = any free port)")
    parser.add_argument("--health-port", type=int, default=9091, help="health/metrics port (0 = any free)")
    parser.add_argument(
        "--data", default=None, help="data folder (default: a temporary one, deleted at exit)"
    )
    parser.add_argument("--graceful-stop-timeout", type=int, default=10)
    args = parser.parse_args(argv)
    server = MilvusServer(
        port=args.port or None,
        health_port=args.health_port or None,
        data_dir=args.data,
        graceful_stop_timeout=args.graceful_stop_timeout,
        quiet=False,
    )
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        server.start()
        print(f"URI={server.uri}\nHEALTH={server.health_url}\nLOG={server.log_path}", flush=True)
        print(f"started in {server.start_seconds:.1f}s; Ctrl+C to stop", file=sys.stderr, flush=True)
        while not stop:
            if not server.running:
                print("milvus exited; last log lines:\n" + server.log_tail(), file=sys.stderr)
                return 1
            time.sleep(0.5)
    except MilvusStartError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        t0 = time.monotonic()
        server.close()
        print(f"stopped in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
