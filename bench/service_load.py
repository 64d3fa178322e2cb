"""HTTP load test of the real service: concurrent single-JPEG clients, text latency, RSS.

    python bench/service_load.py [--clients 32] [--requests 256] [--images 48] [--model FOLDER]

1. measures our in-process images/s on the same photos (``clipvec bench`` in a child
   process, auto precision, no original path) unless ``--inprocess-img-s`` is given;
2. starts ``bentoml serve service:vectorization`` (CLIPVEC_MODEL=the model folder, the
   original command) and waits for /readyz;
3. ``--clients`` threads, each with its own keep-alive connection, POST single JPEGs to
   /vectorize_image until ``--requests`` answers came back; every non-200 answer, bad
   body or exception is an error;
4. sequential text queries to /vectorize_text (p50/p99);
5. the server's RSS over its whole process tree (sampled throughout, psutil).

Prints a table and one JSON line (``--json-only``: just the line).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import requests

from clipvec.cli.bench import (
    DEFAULT_CACHE,
    build_photos,
    ensure_model,
    load_average,
    machine_info,
)
from clipvec.cli.bench.ours import TEXT_QUERIES

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "harness"))  # the same service launcher the tests use
from service_process import ServiceProcess  # noqa: E402


def log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


class Server(ServiceProcess):
    """The service under test (tests/harness/service_process.py), plus its process tree for sampling."""

    def __init__(self, model: Path, log_path: Path, extra_env: dict[str, str]) -> None:
        env = {
            "TRANSFORMERS_OFFLINE": "1",
            "CLIPVEC_MODEL": str(model.resolve()),
            "CLIPVEC_MILVUS_URI": str(log_path.with_name("service.db")),
            **extra_env,
        }
        super().__init__(env, log_path)

    def start(self, timeout: float = 300.0) -> float:  # type: ignore[override]
        """Start and wait until ready; the seconds it took."""
        t0 = time.perf_counter()
        super().start(timeout)
        return time.perf_counter() - t0

    def processes(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


class RssMonitor(threading.Thread):
    """Samples the server's process tree: peak RSS of the largest process, of the sum, and peak PSS.

    The RSS sum counts pages shared by the processes (libraries) twice; PSS splits them.
    """

    def __init__(self, server: Server, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.server, self.every = server, every
        self.peak_tree = self.peak_process = self.peak_pss = 0
        self._halt = threading.Event()

    def sample(self) -> dict[str, int]:
        rss, pss = [], 0
        for proc in self.server.processes():
            with contextlib.suppress(psutil.Error):
                info = proc.memory_full_info()
                rss.append(info.rss)
                pss += getattr(info, "pss", info.rss)
        now = {"tree": sum(rss), "largest": max(rss, default=0), "pss": pss}
        self.peak_tree = max(self.peak_tree, now["tree"])
        self.peak_process = max(self.peak_process, now["largest"])
        self.peak_pss = max(self.peak_pss, now["pss"])
        return now

    def run(self) -> None:
        while not self._halt.wait(self.every):
            self.sample()

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.sample()


# Proposed changes to service.py / encoder.py, emulated in the service process through a
# generated sitecustomize.py (PYTHONPATH), so that they can be measured before they land.
WHAT_IF_SITECUSTOMIZE = """
import os

if os.environ.get("CLIPVEC_BENCH_THREADS"):
    # service.py: @bentoml.service(threads=N). BentoML 1.4 runs sync APIs through an anyio
    # CapacityLimiter of size `threads` (default 1): one request at a time, no micro-batches.
    import bentoml

    _service = bentoml.service

    def service(inner=None, /, **kw):
        kw.setdefault("threads", int(os.environ["CLIPVEC_BENCH_THREADS"]))
        return _service(**kw) if inner is None else _service(inner, **kw)

    bentoml.service = service

if os.environ.get("CLIPVEC_BENCH_COPY_OFF_MMAP"):
    # encoder.py: after storing the matmul weights in bf16, copy the tensors that stay fp32
    # (embeddings, norms) so that nothing keeps the whole fp32 safetensors mmap resident.
    import torch

    import clipvec.model.encoder

    _load = clipvec.model.encoder.ClipEncoder.load.__func__

    def load(cls, *args, **kwargs):
        encoder = _load(cls, *args, **kwargs)
        if encoder.model is None:  # started from its trace (CLIPVEC_TORCH_TRACE): no mapping to leave
            return encoder
        with torch.no_grad():
            for tensor in [*encoder.model.parameters(), *encoder.model.buffers()]:
                if tensor.dtype != torch.bfloat16:
                    tensor.data = tensor.data.clone()
        return encoder

    clipvec.model.encoder.ClipEncoder.load = classmethod(load)

if os.environ.get("CLIPVEC_BENCH_RELEASE_BODY"):
    # serving/guard/body.py: replay hands the buffered body on and forgets it. Its closure used to keep
    # the body alive as long as the request's Request object, which a contextvars Context
    # captured by a cancelled asyncio TimerHandle keeps for a long time: RSS grows ~1 MB/request.
    import clipvec.serving.guard.body

    def _replay(body, receive):
        pending = [body]

        async def replay():
            if pending:
                return {"type": "http.request", "body": pending.pop(), "more_body": False}
            return await receive()

        return replay

    clipvec.serving.guard.body.replay = _replay
"""


def what_if_env(what_if: list[str], folder: Path) -> dict[str, str]:
    if not what_if:
        return {}
    (folder / "sitecustomize.py").write_text(WHAT_IF_SITECUSTOMIZE)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))}
    for item in what_if:
        if item.startswith("threads="):
            env["CLIPVEC_BENCH_THREADS"] = str(int(item.split("=", 1)[1]))
        elif item == "copy-off-mmap":
            env["CLIPVEC_BENCH_COPY_OFF_MMAP"] = "1"
        elif item == "release-body":
            env["CLIPVEC_BENCH_RELEASE_BODY"] = "1"
        else:
            raise SystemExit(f"unknown --what-if {item!r} (threads=N, release-body, copy-off-mmap)")
    return env


def scrape(url: str) -> dict[str, float]:
    """clipvec's batch metrics from /metrics: sums and counts of image batch sizes and times."""
    wanted = ("clipvec_batch_size_sum", "clipvec_batch_size_count", "clipvec_encode_seconds_sum")
    out = dict.fromkeys(wanted, 0.0)
    with contextlib.suppress(requests.RequestException, ValueError):
        for line in requests.get(url + "/metrics", timeout=10).text.splitlines():
            name, _, value = line.rpartition(" ")
            metric = name.split("{", 1)[0]
            if 'kind="image"' in name and metric.endswith(wanted):
                out[next(w for w in wanted if metric.endswith(w))] += float(value)
    return out


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            total += t.user + t.system
    return total


def post_image(session: requests.Session, url: str, data: bytes) -> str | None:
    """One request; None when the answer is a good vector, else what went wrong."""
    try:
        resp = session.post(
            url + "/vectorize_image", data=data, headers={"Content-Type": "image/jpeg"}, timeout=300
        )
    except requests.RequestException as exc:
        return f"{type(exc).__name__}"
    if resp.status_code != 200:
        return f"HTTP {resp.status_code}"
    try:
        body = resp.json()
        ok = len(body["vector"]) == body["dim"]
    except (ValueError, KeyError, TypeError):
        ok = False
    return None if ok else "bad body"


def concurrent_load(url: str, photos: list[bytes], clients: int, total: int) -> dict[str, Any]:
    """``clients`` threads share ``total`` requests; returns img/s, latency and errors."""
    lock = threading.Lock()
    counter = iter(range(total))
    latencies: list[float] = []
    errors: dict[str, int] = {}
    start_gate = threading.Barrier(clients + 1)

    def client() -> None:
        with requests.Session() as session:
            start_gate.wait()
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                err = post_image(session, url, photos[i % len(photos)])
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    if err is not None:
                        errors[err] = errors.get(err, 0) + 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    start_gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    lat_ms = np.asarray(latencies) * 1000.0
    return {
        "requests": len(latencies),
        "seconds": round(seconds, 2),
        "img_s": round(len(latencies) / seconds, 2),
        "latency_p50_ms": round(float(np.percentile(lat_ms, 50)), 1),
        "latency_p99_ms": round(float(np.percentile(lat_ms, 99)), 1),
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }


def text_latency(url: str, queries: int) -> list[float]:
    times = []
    with requests.Session() as session:
        for i in range(queries + 5):
            q = TEXT_QUERIES[i % len(TEXT_QUERIES)]
            t0 = time.perf_counter()
            resp = session.post(
                url + "/vectorize_text", data=q.encode(), headers={"Content-Type": "text/plain"}
            )
            dt = (time.perf_counter() - t0) * 1000.0
            resp.raise_for_status()
            if i >= 5:  # the first few are warm-up
                times.append(dt)
    return times


def inprocess_img_s(args: argparse.Namespace, model: Path) -> dict[str, Any]:
    """``clipvec bench`` (our path only) in a child process, on the same photos and model."""
    cmd = [
        sys.executable,
        "-m",
        "clipvec.cli.bench",
        "--json-only",
        "--skip-original",
        "--skip-fp32",
        "--skip-import",
        "--text-queries",
        "20",
        "--images",
        str(args.images),
        "--cache",
        str(args.cache),
        "--model",
        str(model),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO_ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="HTTP load test of the clipvec service.")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    p.add_argument("--requests", type=int, default=256, help="single-JPEG requests in all (default 256)")
    p.add_argument("--images", type=int, default=48, help="distinct photos sent (default 48)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="cache folder (default .bench-cache)")
    p.add_argument("--model", type=Path, help="model folder (default: the random ViT-B/32 in the cache)")
    p.add_argument("--text-queries", type=int, default=100, help="sequential text queries (default 100)")
    p.add_argument("--inprocess-img-s", type=float, help="skip the in-process run and compare with this")
    p.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="extra environment for the service"
    )
    p.add_argument(
        "--what-if",
        action="append",
        default=[],
        metavar="CHANGE",
        help="emulate a proposed change in the service (repeatable): threads=N (BentoML sync-API "
        "threads), release-body (http_guard), copy-off-mmap (encoder)",
    )
    p.add_argument("--json-only", action="store_true", help="print only the JSON line")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    quiet = args.json_only
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result: dict[str, Any] = {"bench": "clipvec-service", "load_avg_start": load_average(), **machine_info()}
    paths = build_photos(args.cache / "photos", args.images, quiet=quiet)
    model = args.model or ensure_model(args.cache / "vit-b-32-random", quiet=quiet)
    result.update(model=str(model), images=len(paths), clients=args.clients)

    if args.inprocess_img_s:
        result["inprocess_img_s"] = args.inprocess_img_s
    else:
        log("in-process reference run (clipvec bench, our path only)", quiet)
        ref = inprocess_img_s(args, model)
        result["inprocess_img_s"] = ref["ours_img_s"]
        result["inprocess_precision"] = ref["precision"]

    photos = [p.read_bytes() for p in paths]
    with tempfile.TemporaryDirectory(prefix="clipvec-load-") as tmp:
        extra_env = {**what_if_env(args.what_if, Path(tmp)), **dict(kv.split("=", 1) for kv in args.env)}
        if args.what_if or args.env:
            result["what_if"] = args.what_if
            result["service_env"] = args.env
        server = Server(model, Path(tmp) / "service.log", extra_env)
        log(f"starting the service on {server.url}", quiet)
        try:
            result["service_start_s"] = round(server.start(), 1)
            monitor = RssMonitor(server)
            idle = monitor.sample()
            result["service_rss_idle_worker_mb"] = round(idle["largest"] / 2**20, 1)
            result["service_rss_idle_tree_mb"] = round(idle["tree"] / 2**20, 1)
            monitor.start()
            log("warm-up", quiet)
            concurrent_load(server.url, photos, args.clients, max(args.clients * 2, 64))
            log(f"{args.clients} clients, {args.requests} single-JPEG requests", quiet)
            before = scrape(server.url)
            server_cpu, client_cpu = cpu_seconds(server.processes()), time.process_time()
            load = concurrent_load(server.url, photos, args.clients, args.requests)
            server_cpu = cpu_seconds(server.processes()) - server_cpu
            client_cpu = time.process_time() - client_cpu
            after = {k: v - before[k] for k, v in scrape(server.url).items()}
            if after["clipvec_batch_size_count"]:
                images = after["clipvec_batch_size_sum"]
                result["service_mean_batch"] = round(images / after["clipvec_batch_size_count"], 1)
                result["service_encode_ms_per_img"] = round(
                    1000 * after["clipvec_encode_seconds_sum"] / images, 1
                )
            result.update({f"service_{k}": v for k, v in load.items()})
            # Where the two cores went: CPU ms per image in the server and in this client.
            result["service_cpu_ms_per_img"] = round(1000 * server_cpu / load["requests"], 1)
            result["client_cpu_ms_per_img"] = round(1000 * client_cpu / load["requests"], 1)
            result["service_vs_inprocess"] = round(load["img_s"] / result["inprocess_img_s"], 3)
            log(f"{args.text_queries} sequential text queries", quiet)
            lat = text_latency(server.url, args.text_queries)
            result["http_text_p50_ms"] = round(float(np.percentile(lat, 50)), 2)
            result["http_text_p99_ms"] = round(float(np.percentile(lat, 99)), 2)
            monitor.stop()
            result["service_rss_peak_tree_mb"] = round(monitor.peak_tree / 2**20, 1)
            result["service_rss_peak_worker_mb"] = round(monitor.peak_process / 2**20, 1)
            result["service_pss_peak_tree_mb"] = round(monitor.peak_pss / 2**20, 1)
            result["service_processes"] = len(server.processes())
        except Exception:
            log(server.log_tail(), False)
            raise
        finally:
            server.stop()
    result["load_avg_end"] = load_average()

    if not quiet:
        print(format_table(result))
    print(json.dumps(result), flush=True)
    return 0


def format_table(r: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"machine: {r['cpu']}, {r['cores']} cores; load avg {r['load_avg_start']} -> {r['load_avg_end']}",
            *([f"what-if: {r['what_if']} env {r['service_env']}"] if "what_if" in r else []),
            f"in-process (our path, {r.get('inprocess_precision', 'given with --inprocess-img-s')}): "
            f"{r['inprocess_img_s']:.2f} img/s",
            f"service, {r['clients']} concurrent clients, {r['service_requests']} single JPEGs: "
            f"{r['service_img_s']:.2f} img/s = {100 * r['service_vs_inprocess']:.0f}% of in-process; "
            f"errors {r['service_errors']}; latency p50 {r['service_latency_p50_ms']:.0f} ms, "
            f"p99 {r['service_latency_p99_ms']:.0f} ms",
            f"micro-batches: mean {r.get('service_mean_batch', '?')} images, "
            f"model time {r.get('service_encode_ms_per_img', '?')} ms per image",
            f"CPU per image: server {r['service_cpu_ms_per_img']:.0f} ms, "
            f"load-test client {r['client_cpu_ms_per_img']:.0f} ms (same 2 cores)",
            f"text over HTTP (sequential): p50 {r['http_text_p50_ms']:.1f} ms, p99 {r['http_text_p99_ms']:.1f} ms",
            f"service RSS: model worker peak {r['service_rss_peak_worker_mb']:.0f} MiB "
            f"(idle {r['service_rss_idle_worker_mb']:.0f}); all {r['service_processes']} processes: "
            f"RSS sum {r['service_rss_peak_tree_mb']:.0f} MiB, PSS {r['service_pss_peak_tree_mb']:.0f} MiB",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
