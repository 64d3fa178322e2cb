"""The service against in-process encoding, interleaved in one run (issue 20 item 4).

    python bench/service_ratio.py [--rounds 4] [--requests 256] [--clients 32]
                                  [--variant NAME=SRC_FOLDER[,K=V...]] ...

On a shared machine a single pair of runs says little: other people's work comes and goes
within seconds. So the in-process path and every service variant are measured in turn,
round after round (the order rotates), and each service run is divided by the in-process
runs of the same round. A variant is a ``src`` folder (``PYTHONPATH``: e.g. a checkout of
``main`` against this branch) plus service environment, each started once and kept.

Per run: img/s, CPU per image of the service's process tree (or the in-process child) and
of the load-test client (it shares the machine's cores), mean micro-batch and model time.
The in-process side is ``clipvec bench``'s own path (``encode_files``: the import's decode
threads and batches) in one long-lived child, on the same photos and as many images as
the service is sent. Prints one JSON line per run and a summary (median ratios).
``--threads`` splits the model worker's CPU per image by thread: event loop (HTTP parse, the
guard, BentoML, the answer's JSON), image lane (decode, preprocess), model (the batcher and
torch's OpenMP threads), other.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from clipvec.cli.bench import DEFAULT_CACHE, build_photos, ensure_model, load_average, machine_info

sys.path.insert(0, str(Path(__file__).resolve().parent))
import service_load  # noqa: E402
from service_load import Server, cpu_seconds, scrape  # noqa: E402

# The in-process side: loads the encoder once, then encodes the photos on each line it reads.
INPROCESS_CHILD = """
import json, os, sys, time
from pathlib import Path
from clipvec.cli.bench.ours import encode_files
from clipvec.model.encoder import ClipEncoder
from clipvec.settings import Settings

settings = Settings(model=sys.argv[1])
encoder = ClipEncoder.from_settings(settings)
paths = [Path(p) for p in json.loads(sys.argv[2])]
workers = max(2, settings.resolved_threads())
encode_files(encoder, paths[:8], decode_workers=workers)  # oneDNN builds its kernels once
print("ready", flush=True)
for line in sys.stdin:
    count = int(line)
    todo = [paths[i % len(paths)] for i in range(count)]
    cpu, t0 = time.process_time(), time.perf_counter()
    encode_files(encoder, todo, decode_workers=workers)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "cpu": time.process_time() - cpu}), flush=True)
"""


def post_image(conn: http.client.HTTPConnection, data: bytes) -> str | None:
    """One request on a kept-alive connection; None for a good vector, else what went wrong."""
    try:
        conn.request("POST", "/vectorize_image", body=data, headers={"Content-Type": "image/jpeg"})
        resp = conn.getresponse()
        body = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        return type(exc).__name__
    if resp.status != 200:
        return f"HTTP {resp.status}"
    try:
        answer = json.loads(body)
        ok = len(answer["vector"]) == answer["dim"]
    except (ValueError, KeyError, TypeError):
        ok = False
    return None if ok else "bad body"


def lean_load(url: str, photos: list[bytes], clients: int, total: int) -> dict[str, Any]:
    """``service_load.concurrent_load`` with http.client instead of requests (a lighter client)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    local = threading.local()

    def post(_session: Any, _url: str, data: bytes) -> str | None:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(host, int(port), timeout=300)
        return post_image(local.conn, data)

    original = service_load.post_image
    service_load.post_image = post  # type: ignore[assignment]
    try:
        return service_load.concurrent_load(url, photos, clients, total)
    finally:
        service_load.post_image = original


class InProcess:
    def __init__(self, model: Path, paths: list[Path], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", INPROCESS_CHILD, str(model), json.dumps([str(p) for p in paths])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the in-process child did not start")

    def run(self, count: int) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{count}\n")
        self.proc.stdin.flush()
        out = json.loads(self.proc.stdout.readline())
        return {
            "img_s": round(count / out["seconds"], 2),
            "cpu_ms_per_img": round(1000 * out["cpu"] / count, 1),
        }

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def thread_names(pid: int) -> dict[int, str]:
    """The worker's Python threads by native id (``py-spy dump``; {} without py-spy)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    try:
        dump = subprocess.run(
            [spy, "dump", "-p", str(pid)], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {int(m[0], 0): m[1] for m in re.findall(r'Thread (\S+) \([^)]*\): "([^"]*)"', dump)}


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of ``pid`` (Linux /proc)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            out[int(tid)] = (int(fields[11]) + int(fields[12])) / TICK
    return out


# Where a worker thread's CPU goes, by its name: the event loop (HTTP, the guard, BentoML,
# the answers' JSON), the image lane (decode and preprocess), the micro-batcher (model),
# and threads Python does not know (torch's OpenMP pool: model).
THREAD_KINDS = {"MainThread": "event_loop", "AnyIO worker thread": "lane", "clipvec-batcher": "model"}


def service_run(server: Server, photos: list[bytes], args: argparse.Namespace) -> dict[str, Any]:
    before = scrape(server.url)
    procs = server.processes()
    worker = max(procs, key=lambda p: p.memory_info().rss)  # the model worker
    names = thread_names(worker.pid) if args.threads else {}
    threads_before = thread_cpu(worker.pid) if names else {}
    server_cpu, client_cpu = cpu_seconds(procs), time.process_time()
    load = LOADS[args.client](server.url, photos, args.clients, args.requests)
    server_cpu = cpu_seconds(procs) - server_cpu
    client_cpu = time.process_time() - client_cpu
    by_kind: dict[str, float] = {}
    if names:  # anyio's idle threads exit after 10 s: the lane may have new ones by now
        names.update(thread_names(worker.pid))
    for tid, cpu in thread_cpu(worker.pid).items() if names else ():
        kind = THREAD_KINDS.get(names.get(tid, ""), "other" if tid in names else "model")
        by_kind[kind] = by_kind.get(kind, 0.0) + cpu - threads_before.get(tid, 0.0)
    after = {k: v - before[k] for k, v in scrape(server.url).items()}
    images = after["clipvec_batch_size_sum"] or 1
    return {
        **{f"{k}_cpu_ms_per_img": round(1000 * v / load["requests"], 2) for k, v in by_kind.items()},
        "img_s": load["img_s"],
        "errors": load["errors"],
        "latency_p50_ms": load["latency_p50_ms"],
        "cpu_ms_per_img": round(1000 * server_cpu / load["requests"], 1),
        "client_cpu_ms_per_img": round(1000 * client_cpu / load["requests"], 1),
        "mean_batch": round(images / (after["clipvec_batch_size_count"] or 1), 1),
        "encode_ms_per_img": round(1000 * after["clipvec_encode_seconds_sum"] / images, 1),
    }


TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
LOADS = {"requests": service_load.concurrent_load, "http.client": lean_load}


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, rest = text.partition("=")
    src, *pairs = rest.split(",")
    env = (
        {"PYTHONPATH": os.pathsep.join(str(Path(p).resolve()) for p in src.split(os.pathsep))} if src else {}
    )
    env.update(p.split("=", 1) for p in pairs)
    return name, env


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="The service against in-process encoding, interleaved.")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--requests", type=int, default=256, help="images per run, service and in-process")
    p.add_argument("--images", type=int, default=48, help="distinct photos (default 48)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument(
        "--threads",
        action="store_true",
        help="the worker's CPU per image by thread kind (needs py-spy: pip install py-spy)",
    )
    p.add_argument(
        "--client",
        choices=sorted(LOADS),
        default="requests",
        help="the load test's HTTP client: requests (bench/service_load.py's) or http.client (lighter)",
    )
    p.add_argument("--model", type=Path, help="model folder (default: the random ViT-B/32 in the cache)")
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=SRC[,K=V...]",
        help="a service to measure: its src folder (empty: this checkout's) and environment",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    variants = dict(parse_variant(v) for v in args.variant or ["service="])
    paths = build_photos(args.cache / "photos", args.images, quiet=True)
    model = (args.model or ensure_model(args.cache / "vit-b-32-random")).resolve()
    photos = [p.read_bytes() for p in paths]
    info = {"bench": "clipvec-service-ratio", **machine_info(), "load_avg_start": load_average()}
    info.update(client=args.client, clients=args.clients, requests=args.requests, variants=variants)
    print(json.dumps(info), flush=True)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in ["inprocess", *variants]}
    with tempfile.TemporaryDirectory(prefix="clipvec-ratio-") as tmp:
        servers = {}
        inprocess = None
        try:
            for name, env in variants.items():
                (Path(tmp) / name).mkdir()  # its own Lite file (service.db beside the log)
                servers[name] = Server(model, Path(tmp) / name / "service.log", env)
                servers[name].start()
                LOADS[args.client](servers[name].url, photos, args.clients, max(64, 2 * args.clients))
            inprocess = InProcess(model, paths, {})
            order = list(runs)
            for r in range(args.rounds):
                for name in order[r % len(order) :] + order[: r % len(order)]:
                    if name == "inprocess":
                        row = inprocess.run(args.requests)
                    else:
                        row = service_run(servers[name], photos, args)
                    row.update(round=r, run=name, load_avg=load_average())
                    runs[name].append(row)
                    print(json.dumps(row), flush=True)
        finally:
            for server in servers.values():
                server.stop()
            if inprocess is not None:
                inprocess.stop()
    print(json.dumps(summary(runs)), flush=True)
    return 0


def summary(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per variant: each round's img/s over that round's in-process img/s; medians."""
    base = {row["round"]: row for row in runs["inprocess"]}
    out: dict[str, Any] = {
        "inprocess_img_s_median": statistics.median(r["img_s"] for r in runs["inprocess"]),
        "inprocess_cpu_ms_median": statistics.median(r["cpu_ms_per_img"] for r in runs["inprocess"]),
    }
    for name, rows in runs.items():
        if name == "inprocess":
            continue
        ratios = [round(r["img_s"] / base[r["round"]]["img_s"], 3) for r in rows]
        out[name] = {
            "ratios": ratios,
            "ratio_median": statistics.median(ratios),
            "img_s_median": statistics.median(r["img_s"] for r in rows),
            "cpu_ms_median": statistics.median(r["cpu_ms_per_img"] for r in rows),
            "client_cpu_ms_median": statistics.median(r["client_cpu_ms_per_img"] for r in rows),
            "errors": sum(r["errors"] for r in rows),
        }
        for key in sorted({k for r in rows for k in r if k.endswith("_per_img") or k == "mean_batch"}):
            out[name][f"{key}_median"] = statistics.median(r[key] for r in rows if key in r)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
