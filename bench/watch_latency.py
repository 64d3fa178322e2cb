"""Issue 19.4: from a file's last write to ``search_text`` finding it, under ``serve --watch``.

    python bench/watch_latency.py [--files 20] [--gap 1.0] [--clients 8] [--settle 2] [--model tiny|base]

Starts a real ``bentoml serve`` (Milvus Lite, ``CLIPVEC_WATCH=1``, settle ``--settle``
seconds, the default 2) on a random CLIP built by the tests' model builder, waits for its
start-up pass, then runs two phases in the same run: alone (no other traffic: the baseline)
and with ``--clients`` threads searching by text in a loop. In each, a writer copies
``--files`` new PNGs into the folder one by one (two writes each, ``--gap`` seconds apart),
and for each file a prober asks ``/search_text?path_prefix=<its name>`` every 0.1 s until it
is found: the latency is from the file's last write to the first answer that has it.
Prints p50/p99/max per phase, the clients' searches/s and errors, and one JSON line.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests" / "harness")]

from service_process import ServiceProcess  # noqa: E402

from clipvec.cli.bench import machine_info  # noqa: E402
from clipvec.model.factory import make_random_model  # noqa: E402
from clipvec.model.shapes import HELD_OUT_SEED_START, draw_shape  # noqa: E402

MODELS = REPO / ".test-cache" / "models"
NAMES = {"tiny": "tiny-random-clip", "base": "vit-b-32-random"}  # the tests' cached builds
QUERIES = ["a red circle", "a blue square", "a photo of a dog", "green triangle", "sunset at the beach"]
GIVE_UP = 120.0  # seconds a prober waits for one file before counting it as never found


def model_folder(size: str) -> Path:
    folder = MODELS / NAMES[size]
    if not (folder / "model.safetensors").exists():
        make_random_model(folder, size=size, seed=0)  # type: ignore[arg-type]
    return folder


def png(i: int) -> bytes:
    out = io.BytesIO()
    colors, shapes = ("red", "green", "blue", "yellow"), ("circle", "square", "triangle")
    draw_shape(colors[i % 4], shapes[i % 3], size=160, seed=HELD_OUT_SEED_START + 950_000 + i).save(
        out, "PNG"
    )
    return out.getvalue()


class Clients:
    """``n`` threads searching by text in a loop, each on its own keep-alive connection."""

    def __init__(self, url: str, n: int) -> None:
        self.url, self.n = url, n
        self.stop = threading.Event()
        self.done = self.errors = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(n)]

    def _loop(self, i: int) -> None:
        session = requests.Session()
        k = i
        while not self.stop.is_set():
            k += 1
            try:
                ok = (
                    session.post(
                        f"{self.url}/search_text?top_k=20",
                        data=QUERIES[k % len(QUERIES)],
                        headers={"Content-Type": "text/plain"},
                        timeout=60,
                    ).status_code
                    == 200
                )
            except requests.RequestException:
                ok = False
            with self.lock:
                self.done += ok
                self.errors += not ok

    def __enter__(self) -> Clients:
        self.started = time.perf_counter()
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(70)
        self.seconds = time.perf_counter() - self.started


def found(session: requests.Session, url: str, name: str) -> bool:
    answer = session.post(
        f"{url}/search_text?top_k=5&path_prefix={name}",
        data="a photo",
        headers={"Content-Type": "text/plain"},
        timeout=60,
    )
    return answer.status_code == 200 and any(h["path"] == name for h in answer.json()["hits"])


def probe(url: str, name: str, written: float, out: list[float]) -> None:
    session = requests.Session()
    while time.time() - written < GIVE_UP:
        try:
            if found(session, url, name):
                out.append(time.time() - written)
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    out.append(float("inf"))


def phase(url: str, images: Path, tag: str, files: int, gap: float, first: int) -> list[float]:
    """Copy ``files`` new PNGs in one by one; each file's latency from its last write."""
    latencies: list[float] = []
    probers = []
    for i in range(files):
        data, name = png(first + i), f"{tag}-{i:04d}.png"
        with open(images / name, "wb") as f:  # a copy: two writes, the file grows
            f.write(data[: len(data) // 2])
            f.flush()
            time.sleep(0.05)
            f.write(data[len(data) // 2 :])
        written = os.stat(images / name).st_mtime
        t = threading.Thread(target=probe, args=(url, name, written, latencies), daemon=True)
        t.start()
        probers.append(t)
        time.sleep(gap)
    for t in probers:
        t.join(GIVE_UP + 70)
    return sorted(latencies)


def summary(latencies: list[float]) -> dict[str, Any]:
    got = [x for x in latencies if x != float("inf")]
    q = statistics.quantiles(got, n=100, method="inclusive") if len(got) > 1 else got * 99
    return {
        "files": len(latencies),
        "never_found": len(latencies) - len(got),
        "p50_s": round(statistics.median(got), 2) if got else None,
        "p99_s": round(q[98], 2) if got else None,
        "max_s": round(max(got), 2) if got else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between two files")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--model", choices=sorted(NAMES), default="tiny")
    args = parser.parse_args()
    model = model_folder(args.model)
    with tempfile.TemporaryDirectory(prefix="clipvec-bench-") as tmp_s:
        tmp = Path(tmp_s)
        images = tmp / "images"
        images.mkdir()
        for i in range(4):
            (images / f"seed-{i}.png").write_bytes(png(i))
        env = {
            "CLIPVEC_MODEL": str(model),
            "CLIPVEC_MILVUS_URI": str(tmp / "milvus.db"),
            "CLIPVEC_IMAGES_DIR": str(images),
            "CLIPVEC_WATCH": "1",
            "CLIPVEC_WATCH_SETTLE": str(args.settle),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])),
        }
        svc = ServiceProcess(env, tmp / "service.log").start()
        try:
            deadline = time.monotonic() + 300
            while requests.post(f"{svc.url}/import_status", timeout=30).json()["watch"]["passes"] < 1:
                assert time.monotonic() < deadline, "no start-up pass"
                time.sleep(0.5)
            results: dict[str, Any] = {
                "alone": summary(phase(svc.url, images, "alone", args.files, args.gap, 100))
            }
            with Clients(svc.url, args.clients) as clients:
                loaded = phase(svc.url, images, "loaded", args.files, args.gap, 10_000)
            results[f"{args.clients}_clients"] = {
                **summary(loaded),
                "searches_per_s": round(clients.done / clients.seconds, 1),
                "search_errors": clients.errors,
            }
        finally:
            svc.stop()
    line = {
        "machine": machine_info(),
        "model": args.model,
        "settle_s": args.settle,
        "gap_s": args.gap,
        **results,
    }
    for name, r in results.items():
        print(
            f"{name:>10}: p50 {r['p50_s']} s, p99 {r['p99_s']} s, max {r['max_s']} s over {r['files']} files"
            f" ({r['never_found']} never found)"
            + (
                f"; {r['searches_per_s']} searches/s, {r['search_errors']} errors"
                if "searches_per_s" in r
                else ""
            )
        )
    print(json.dumps(line))


if __name__ == "__main__":
    main()
