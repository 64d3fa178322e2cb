"""The service under abuse: normal clients while others stall uploads and send huge images.

    python bench/service_abuse.py [--baseline 60] [--duration 180] [--clients 32] [--stalled 200] [--big 16]

1. starts ``bentoml serve service:vectorization`` on a random-weight full-size ViT-B/32
   (tests/harness/service_process.py, as bench/service_load.py does);
2. baseline: ``--clients`` threads POST single JPEGs to /vectorize_image for ``--baseline`` s;
3. abuse, for ``--duration`` s: the same clients, plus ``--stalled`` connections that send a
   request head and 100 bytes of a declared 1 MB body, then nothing (each is reopened as soon
   as the service cuts it with its 408), plus ``--big`` threads that POST a 100-megapixel PNG
   (97 KB) again and again;
4. reports good-request p50/p99 and errors for both phases, the 408s and big-image answers,
   and the model worker's RSS at the start, at the end and at its peak.

Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import selectors
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests

from clipvec.cli.bench import DEFAULT_CACHE, build_photos, ensure_model, load_average, machine_info

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_load import RssMonitor, Server  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "harness"))  # the tests' inputs
from payloads import big_png  # noqa: E402


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Clients:
    """``n`` threads posting photos until stopped; latencies of answers and errors."""

    def __init__(self, url: str, photos: list[bytes], n: int) -> None:
        self.url, self.photos, self.n = url, photos, n
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        while not self._stop.is_set():
            data = rng.choice(self.photos)
            started = time.perf_counter()
            try:
                resp = session.post(
                    self.url + "/vectorize_image",
                    data=data,
                    headers={"Content-Type": "image/jpeg"},
                    timeout=60,
                )
                error = (
                    None
                    if resp.status_code == 200 and len(resp.json().get("vector", [])) > 0
                    else str(resp.status_code)
                )
            except (requests.RequestException, ValueError) as exc:
                error = type(exc).__name__
            elapsed = time.perf_counter() - started
            with self._lock:
                if error is None:
                    self.latencies.append(elapsed)
                else:
                    self.errors[error] = self.errors.get(error, 0) + 1

    def start(self) -> Clients:
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.n)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=90)
        lat = np.array(self.latencies) * 1000
        return {
            "answers": len(self.latencies),
            "errors": sum(self.errors.values()),
            "error_kinds": self.errors,
            "p50_ms": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
            "p99_ms": round(float(np.percentile(lat, 99)), 1) if lat.size else None,
        }


class Stallers(threading.Thread):
    """Keeps ``n`` stalled uploads open; counts how the service ends them."""

    def __init__(self, url: str, n: int) -> None:
        super().__init__(daemon=True)
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self.n = n
        self.answers: dict[str, int] = {}
        self.opened = 0
        self._halt = threading.Event()

    def _open(self, selector: selectors.BaseSelector) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=10)
            sock.sendall(
                f"POST /vectorize_image HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Content-Type: image/jpeg\r\nContent-Length: 1000000\r\n\r\n".encode()
                + b"\xff\xd8\xff"
                + b"\0" * 97
            )
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
            self.opened += 1
        except OSError as exc:
            self.answers[type(exc).__name__] = self.answers.get(type(exc).__name__, 0) + 1
            time.sleep(0.1)

    def run(self) -> None:
        selector = selectors.DefaultSelector()
        for _ in range(self.n):
            self._open(selector)
        while not self._halt.is_set():
            for key, _ in selector.select(timeout=0.5):
                sock = key.fileobj
                try:
                    data = sock.recv(4096)  # type: ignore[union-attr]
                except OSError:
                    data = b""
                status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "closed"
                self.answers[status] = self.answers.get(status, 0) + 1
                selector.unregister(sock)
                sock.close()  # type: ignore[union-attr]
                self._open(selector)
        for key in list(selector.get_map().values()):
            with contextlib.suppress(OSError):
                key.fileobj.close()  # type: ignore[union-attr]

    def stop(self) -> dict[str, Any]:
        self._halt.set()
        self.join(timeout=30)
        return {"opened": self.opened, "ended_by": self.answers}


class BigImages:
    """``n`` threads posting a 100-megapixel PNG again and again."""

    def __init__(self, url: str, n: int) -> None:
        self.url, self.n = url, n
        self.data = big_png()
        self.answers: dict[str, int] = {}
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                status = str(
                    session.post(
                        self.url + "/vectorize_image",
                        data=self.data,
                        headers={"Content-Type": "image/png"},
                        timeout=600,
                    ).status_code
                )
            except requests.RequestException as exc:
                status = type(exc).__name__
            with self._lock:
                self.answers[status] = self.answers.get(status, 0) + 1
                if status == "200":
                    self.latencies.append(time.perf_counter() - started)

    def start(self) -> BigImages:
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(self.n)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        deadline = time.monotonic() + 60
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        with self._lock:
            self.answers["still running"] = sum(t.is_alive() for t in self._threads)
        lat = np.array(self.latencies)
        return {
            "png_bytes": len(self.data),
            "answers": self.answers,
            "p50_s": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", type=float, default=60.0, help="seconds of normal clients alone")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds under abuse")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--stalled", type=int, default=200)
    parser.add_argument("--big", type=int, default=16)
    parser.add_argument("--images", type=int, default=24, help="distinct JPEG photos the clients send")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: random ViT-B/32)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)

    model = args.model or ensure_model(args.cache / "models" / "vit-b-32-random")
    photos = [
        p.read_bytes() for p in build_photos(args.cache / "abuse-photos", args.images, megapixels=(0.5, 4.0))
    ]
    out: dict[str, Any] = {"machine": machine_info(), "load_before": load_average(), "args": vars(args)}
    out["args"] = {k: str(v) for k, v in out["args"].items()}
    with tempfile.TemporaryDirectory(prefix="clipvec-abuse-") as tmp:
        server = Server(model, Path(tmp) / "service.log", {"CLIPVEC_IMAGES_DIR": str(Path(tmp) / "images")})
        log("starting the service ...")
        server.start()
        try:
            monitor = RssMonitor(server)
            monitor.start()
            requests.post(server.url + "/vectorize_image", data=photos[0], timeout=120)  # warm up
            rss_start = monitor.sample()["largest"]
            log(f"baseline: {args.clients} clients for {args.baseline:.0f} s ...")
            clients = Clients(server.url, photos, args.clients).start()
            time.sleep(args.baseline)
            out["baseline"] = clients.stop()
            log(
                f"abuse: {args.clients} clients + {args.stalled} stalled uploads + {args.big} big PNGs "
                f"for {args.duration:.0f} s ..."
            )
            monitor.peak_process = 0
            stallers = Stallers(server.url, args.stalled)
            stallers.start()
            big = BigImages(server.url, args.big).start()
            clients = Clients(server.url, photos, args.clients).start()
            time.sleep(args.duration)
            out["abuse"] = clients.stop()
            out["stalled"] = stallers.stop()
            out["big_images"] = big.stop()
            out["load_after"] = load_average()
            time.sleep(2)
            monitor.stop()
            out["worker_rss_mib"] = {
                "start": round(rss_start / 2**20),
                "end": round(monitor.sample()["largest"] / 2**20),
                "peak_under_abuse": round(monitor.peak_process / 2**20),
            }
            out["alive"] = server.alive()
        finally:
            server.stop()
    b, a, r = out["baseline"], out["abuse"], out["worker_rss_mib"]
    print("| phase | good answers | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|")
    print(
        f"| {args.clients} clients alone ({args.baseline:.0f} s) | {b['answers']} | {b['p50_ms']} | {b['p99_ms']} | {b['errors']} |"
    )
    print(
        f"| + {args.stalled} stalled uploads + {args.big} x 100 MP PNG ({args.duration:.0f} s) | {a['answers']} | "
        f"{a['p50_ms']} | {a['p99_ms']} | {a['errors']} {a['error_kinds'] or ''} |"
    )
    print(f"stalled uploads: {out['stalled']}; big PNGs: {out['big_images']}")
    print(f"worker RSS MiB: start {r['start']}, end {r['end']}, peak under abuse {r['peak_under_abuse']}")
    print(f"load average: before {out['load_before']}, after {out['load_after']}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
