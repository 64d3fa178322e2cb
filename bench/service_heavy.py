"""Heavy requests against the real service, before and after (issue 21, items 6 and 7).

    python bench/service_heavy.py --baseline-src /work/main/src [--uploads 128] [--window 60]
        [--downloads 32] [--baseline-downloads 12] [--file-mib 183] [--model FOLDER]

For each code ("before": ``--baseline-src`` on PYTHONPATH, e.g. main's checkout; "after":
this checkout's ``src``), in one run on the same machine, it starts ``bentoml serve
service:vectorization`` (random-weight ViT-B/32 unless ``--model``) and measures:

1. **downloads**: an indexed path whose file is replaced by ``--file-mib`` MiB (PNG magic,
   then random bytes: the page sniffs only the magic); N clients GET ``/ui/file`` at once
   (streamed, each reads 1 MiB, waits 3 s, then reads the rest); the model worker's peak
   RSS growth over its RSS before. "before" runs ``--baseline-downloads`` clients only (its
   growth is about two copies of the file per client: 32 x 183 MiB would take ~12 GB of a
   shared machine), "after" runs that many and ``--downloads``;
2. **text under big uploads**: ``--uploads`` threads POST a legal 100-megapixel PNG (97 KB)
   to /vectorize_image again and again; after 5 s of ramp, 2 threads send sequential
   /vectorize_text for ``--window`` s: their p50/p99/max. Then the uploads stop; answers
   still outstanding after ``--drain`` s are counted as such (the service is then stopped).

Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests
from PIL import Image

from clipvec.cli.bench import DEFAULT_CACHE, ensure_model, load_average, machine_info

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_load import RssMonitor, Server  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "harness"))  # the tests' inputs
from payloads import big_png  # noqa: E402

REPO_SRC = Path(__file__).resolve().parent.parent / "src"
TEXT = {"Content-Type": "text/plain"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def small_jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG")
    return buf.getvalue()


def percentiles(values: list[float]) -> dict[str, Any]:
    arr = np.array(values)
    if not arr.size:
        return {"n": 0, "p50_s": None, "p99_s": None, "max_s": None}
    return {
        "n": int(arr.size),
        "p50_s": round(float(np.percentile(arr, 50)), 3),
        "p99_s": round(float(np.percentile(arr, 99)), 3),
        "max_s": round(float(arr.max()), 3),
    }


# --------------------------------------------------------------------------- downloads
def big_indexed_file(server: Server, images: Path, mib: int) -> str:
    resp = requests.post(
        server.url + "/add_image",
        params={"name": "big.jpg"},
        data=small_jpeg(7),
        headers={"Content-Type": "image/jpeg"},
        timeout=120,
    )
    resp.raise_for_status()
    rel = resp.json()["path"]
    staged = images / ".big.part"
    with open(staged, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        for _ in range(mib):
            f.write(os.urandom(2**20))
    os.replace(staged, images / rel)
    return rel


def downloads(server: Server, monitor: RssMonitor, rel: str, n: int) -> dict[str, Any]:
    time.sleep(1)
    before = monitor.sample()["largest"]
    monitor.peak_process = before
    started = time.perf_counter()
    streams = [
        requests.get(server.url + "/ui/file", params={"path": rel}, stream=True, timeout=300)
        for _ in range(n)
    ]
    statuses = [s.status_code for s in streams]
    got = [len(s.raw.read(2**20)) for s in streams]
    time.sleep(3)  # every download open at once
    for i, s in enumerate(streams):
        while chunk := s.raw.read(2**22):
            got[i] += len(chunk)
        s.close()
    seconds = time.perf_counter() - started
    monitor.sample()
    size = (server.images / rel).stat().st_size  # type: ignore[attr-defined]
    return {
        "clients": n,
        "statuses": sorted(set(statuses)),
        "complete": sum(g == size for g in got),
        "rss_before_mib": round(before / 2**20),
        "rss_growth_mib": round((monitor.peak_process - before) / 2**20),
        "seconds": round(seconds, 1),
    }


# --------------------------------------------------------------------------- text under uploads
class Loop:
    """``n`` threads calling ``call`` again and again until stopped; outcomes and latencies."""

    def __init__(self, n: int, call: Any) -> None:
        self.n, self.call = n, call
        self.answers: dict[str, int] = {}
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n)]

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                resp = self.call(session)
                outcome = str(resp.status_code)
                if resp.status_code != 200:
                    outcome += " " + str(resp.json().get("error"))
            except (requests.RequestException, ValueError) as exc:
                outcome = type(exc).__name__
            with self._lock:
                self.answers[outcome] = self.answers.get(outcome, 0) + 1
                if outcome == "200":
                    self.latencies.append(time.perf_counter() - started)

    def start(self) -> Loop:
        for t in self.threads:
            t.start()
        return self

    def stop(self, wait: float) -> dict[str, Any]:
        self._stop.set()
        deadline = time.monotonic() + wait
        for t in self.threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        with self._lock:
            out = {"answers": dict(self.answers), "outstanding": sum(t.is_alive() for t in self.threads)}
            return {**out, **percentiles(self.latencies)}


def text_under_uploads(server: Server, uploads: int, window: float, drain: float) -> dict[str, Any]:
    png = big_png()

    def upload(session: requests.Session) -> requests.Response:
        return session.post(
            server.url + "/vectorize_image", data=png, headers={"Content-Type": "image/png"}, timeout=600
        )

    def text(session: requests.Session) -> requests.Response:
        return session.post(
            server.url + "/vectorize_text", data="a photo of a dog", headers=TEXT, timeout=600
        )

    alone = Loop(1, text).start()
    time.sleep(10)
    out: dict[str, Any] = {"text_alone": alone.stop(60)}
    big = Loop(uploads, upload).start()
    time.sleep(5)
    texts = Loop(2, text).start()
    time.sleep(window)
    out["text_under_uploads"] = texts.stop(600)  # a text sent in the window is waited for
    out["uploads"] = big.stop(drain)
    return out


# --------------------------------------------------------------------------- one code base
def measure(label: str, src: Path, model: Path, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    folder = tmp / label
    images = folder / "images"
    images.mkdir(parents=True)
    env = {"CLIPVEC_IMAGES_DIR": str(images), "PYTHONPATH": str(src)}
    server = Server(model, folder / "service.log", env)
    server.images = images  # type: ignore[attr-defined]
    log(f"{label}: starting the service on {src} ...")
    server.start()
    out: dict[str, Any] = {"src": str(src)}
    try:
        monitor = RssMonitor(server, every=0.1)
        monitor.start()
        rel = big_indexed_file(server, images, args.file_mib)
        counts = [args.baseline_downloads] + ([args.downloads] if label == "after" else [])
        out["downloads"] = []
        for n in counts:
            log(f"{label}: {n} downloads of {args.file_mib} MiB at once ...")
            out["downloads"].append(downloads(server, monitor, rel, n))
        log(
            f"{label}: text while {args.uploads} x 100 MP PNG uploads are in flight ({args.window:.0f} s) ..."
        )
        out.update(text_under_uploads(server, args.uploads, args.window, args.drain))
        monitor.stop()
        out["alive"] = server.alive()
    finally:
        server.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--baseline-src", type=Path, required=True, help="the code before (e.g. /work/main/src)"
    )
    parser.add_argument("--uploads", type=int, default=128)
    parser.add_argument(
        "--window", type=float, default=60.0, help="seconds of text requests under the uploads"
    )
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to wait for outstanding uploads")
    parser.add_argument("--downloads", type=int, default=32)
    parser.add_argument("--baseline-downloads", type=int, default=12)
    parser.add_argument("--file-mib", type=int, default=183)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: random ViT-B/32)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    model = args.model or ensure_model(args.cache / "models" / "vit-b-32-random")
    out: dict[str, Any] = {"machine": machine_info(), "load_before": load_average()}
    out["args"] = {k: str(v) for k, v in vars(args).items()}
    with tempfile.TemporaryDirectory(prefix="clipvec-heavy-") as tmp:
        for label, src in (("before", args.baseline_src), ("after", REPO_SRC)):
            out[label] = measure(label, src.resolve(), model, args, Path(tmp))
    out["load_after"] = load_average()
    print(
        "| code | text alone p50 / p99 s | text under uploads: n, p50 / p99 / max s | uploads' answers | downloads: clients -> RSS growth MiB |"
    )
    print("|---|---|---|---|---|")
    for label in ("before", "after"):
        r = out[label]
        a, t, u = r["text_alone"], r["text_under_uploads"], r["uploads"]
        dl = ", ".join(
            f"{d['clients']} -> {d['rss_growth_mib']} ({d['complete']} complete)" for d in r["downloads"]
        )
        print(
            f"| {label} | {a['p50_s']} / {a['p99_s']} | {t['n']}, {t['p50_s']} / {t['p99_s']} / {t['max_s']} "
            f"{t['answers']} | {u['answers']}, {u['outstanding']} outstanding | {dl} |"
        )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
