"""A good request while another process holds idle sockets or posts parts behind an ambiguous boundary.

    python bench/hostile_connections.py [--baseline-src /work/main/src] [--idle 20000]
        [--hostile 4] [--parts 400000] [--hostile-timeout 150] [--model FOLDER]

Issue 21, items 2 and 3. For each code base, ``before`` (``--baseline-src``, e.g. main's
checkout, put first on the service's PYTHONPATH) and ``after`` (this checkout's ``src``),
in the same run:

1. start ``bentoml serve service:vectorization`` under the common open-files soft limit of
   1,024 (the hard limit left as it is), with the default settings;
2. idle: ``--idle`` connections opened and held, sending nothing, by other processes
   (tests/harness/idle_sockets.py); then ``--good`` fresh connections each POST one text to
   /vectorize_text (10 s timeout each): their latency, and how many idle sockets the service closed;
3. multipart: ``--hostile`` threads each POST a ``--parts``-part body whose Content-Type hides
   the boundary (``foo="x; boundary=aa"; boundary=zz``), while a good text request is sent
   every 0.5 s; the hostile answers (status, seconds), the good latencies, for at most
   ``--hostile-timeout`` s;
4. the largest service process's RSS at the start and its peak in each phase; stop the service.

Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests

from clipvec.cli.bench import DEFAULT_CACHE, ensure_model, load_average, machine_info

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO_ROOT / "tests" / "harness"))  # the launchers the tests use
from idle_sockets import IdleSockets, soft_open_files_limit  # noqa: E402
from service_load import RssMonitor, Server  # noqa: E402

HOSTILE_TYPE = 'multipart/form-data; foo="x; boundary=aa"; boundary=zz'
PART = b"--zz\r\nContent-Disposition: form-data; name=f; filename=a.jpg\r\n\r\nx\r\n"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def good_request(url: str, timeout: float = 10.0) -> float | str:
    """Seconds for one /vectorize_text on a fresh connection, or what went wrong."""
    started = time.perf_counter()
    try:
        answer = requests.post(url + "/vectorize_text", data="a dog", timeout=timeout)
    except requests.RequestException as exc:
        return type(exc).__name__
    if answer.status_code != 200:
        return str(answer.status_code)
    return time.perf_counter() - started


def summary(results: list[float | str]) -> dict[str, Any]:
    times = [r for r in results if isinstance(r, float)]
    errors: dict[str, int] = {}
    for r in results:
        if isinstance(r, str):
            errors[r] = errors.get(r, 0) + 1
    ms = np.array(times) * 1000
    return {
        "answered": len(times),
        "errors": errors,
        "p50_ms": round(float(np.percentile(ms, 50)), 1) if ms.size else None,
        "max_ms": round(float(ms.max()), 1) if ms.size else None,
    }


def idle_phase(server: Server, n: int, good: int) -> dict[str, Any]:
    host, port = server.url.removeprefix("http://").split(":")
    processes = -(-n // 9000)  # each child stays under a 10k-20k hard limit
    with IdleSockets(host, int(port), n, processes=processes, connect_wait=15) as idle:
        results = [good_request(server.url) for _ in range(good)]
        held = idle.count()
    return {"sockets": held, "good": summary(results)}


def post_hostile(url: str, body: bytes, timeout: float, out: list[Any]) -> None:
    started = time.perf_counter()
    try:
        answer = requests.post(
            url + "/vectorize_images", data=body, headers={"Content-Type": HOSTILE_TYPE}, timeout=timeout
        )
        status: str = str(answer.status_code)
    except requests.RequestException as exc:
        status = type(exc).__name__
    out.append((status, round(time.perf_counter() - started, 1)))


def multipart_phase(server: Server, hostile: int, parts: int, timeout: float) -> dict[str, Any]:
    body = PART * parts + b"--zz--\r\n"
    answers: list[Any] = []
    threads = [
        threading.Thread(target=post_hostile, args=(server.url, body, timeout, answers), daemon=True)
        for _ in range(hostile)
    ]
    for t in threads:
        t.start()
    good: list[float | str] = []
    while any(t.is_alive() for t in threads):
        good.append(good_request(server.url))
        time.sleep(0.5)
    return {"body_mib": round(len(body) / 2**20, 1), "hostile_answers": answers, "good": summary(good)}


def run_variant(name: str, src: Path, model: Path, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    env = {"PYTHONPATH": str(src), "CLIPVEC_IMAGES_DIR": str(tmp / f"images-{name}")}
    server = Server(model, tmp / f"service-{name}.log", env)
    log(f"{name}: starting the service from {src} ...")
    with soft_open_files_limit(1024):
        server.start()
    out: dict[str, Any] = {"src": str(src)}
    try:
        monitor = RssMonitor(server)
        monitor.start()
        good_request(server.url, timeout=120)  # warm up
        out["rss_start_mib"] = round(monitor.sample()["largest"] / 2**20)
        out["quiet"] = summary([good_request(server.url) for _ in range(args.good)])
        log(f"{name}: {args.idle} idle sockets ...")
        monitor.peak_process = 0
        out["idle"] = idle_phase(server, args.idle, args.good)
        out["idle"]["rss_peak_mib"] = round(monitor.peak_process / 2**20)
        time.sleep(2)
        log(f"{name}: {args.hostile} bodies of {args.parts} parts behind {HOSTILE_TYPE!r} ...")
        monitor.peak_process = 0
        out["multipart"] = multipart_phase(server, args.hostile, args.parts, args.hostile_timeout)
        out["multipart"]["rss_peak_mib"] = round(monitor.peak_process / 2**20)
        monitor.stop()
        out["alive"] = server.alive()
    finally:
        server.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline-src", type=Path, default=Path("/work/main/src"))
    parser.add_argument("--idle", type=int, default=20000)
    parser.add_argument("--good", type=int, default=10, help="good requests per idle phase")
    parser.add_argument("--hostile", type=int, default=4)
    parser.add_argument("--parts", type=int, default=400_000)
    parser.add_argument("--hostile-timeout", type=float, default=150.0)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: random ViT-B/32)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    model = args.model or ensure_model(args.cache / "models" / "vit-b-32-random")
    out: dict[str, Any] = {"machine": machine_info(), "load_before": load_average()}
    out["args"] = {k: str(v) for k, v in vars(args).items()}
    with tempfile.TemporaryDirectory(prefix="clipvec-hostile-") as tmp:
        for name, src in (("before", args.baseline_src), ("after", REPO_ROOT / "src")):
            out[name] = run_variant(name, src.resolve(), model, args, Path(tmp))
    out["load_after"] = load_average()
    print(
        "| code | quiet p50 ms | idle: good answered | p50 / max ms | errors | closed idle | RSS peak MiB |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in ("before", "after"):
        v = out[name]
        i = v["idle"]
        print(
            f"| {name} | {v['quiet']['p50_ms']} | {i['good']['answered']}/{args.good} | {i['good']['p50_ms']} / "
            f"{i['good']['max_ms']} | {i['good']['errors'] or 0} | {i['sockets']['closed_by_server']}/"
            f"{i['sockets']['established']} established of {i['sockets']['opened']} | {i['rss_peak_mib']} |"
        )
    print(
        "| code | hostile answers (status, s) | good answered | p50 / max ms | errors | RSS start / peak MiB |"
    )
    print("|---|---|---|---|---|---|")
    for name in ("before", "after"):
        v = out[name]
        m = v["multipart"]
        print(
            f"| {name} | {m['hostile_answers']} | {m['good']['answered']} | {m['good']['p50_ms']} / "
            f"{m['good']['max_ms']} | {m['good']['errors'] or 0} | {v['rss_start_mib']} / {m['rss_peak_mib']} |"
        )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
