"""Every runtime x precision side by side, in one run (issue 20.3).

    python bench/runtimes.py [--images 24] [--requests 128] [--clients 32] [--skip-service]

On the random full-size ViT-B/32 and the generated photos of ``clipvec bench`` (both cached
under ``.bench-cache/``), for torch (bf16, fp32), ONNX Runtime (fp32, int8) and OpenVINO
(fp32, bf16, int8), each in fresh child processes:

* ``clipvec bench --runtime R --precision P`` (our path, no import): img/s in-process, text
  p50, peak RSS of the process after our rows, and fidelity: min and mean cosine of our
  vectors to the fp32 torch reference (the family's own processor + model) on the photos;
* start-up: a fresh ``python`` that loads the encoder (from the export cache, made by the
  row above; torch from its trace, as the commands and the service start it) and encodes
  one text, wall seconds and peak RSS;
* ``bench/service_load.py`` with ``CLIPVEC_RUNTIME``/``CLIPVEC_PRECISION``: img/s through
  ``bentoml serve`` at ``--clients`` concurrent single-JPEG clients, and its start-up to ready.

Exports go to ``.bench-cache/exports`` (the first row of each runtime/precision makes it, and
its time is reported apart). Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from clipvec.cli.bench import DEFAULT_CACHE, ensure_model, load_average, machine_info  # noqa: E402

ROWS = [
    ("torch", "bf16"),
    ("torch", "fp32"),
    ("onnxruntime", "fp32"),
    ("onnxruntime", "int8"),
    ("openvino", "fp32"),
    ("openvino", "bf16"),
    ("openvino", "int8"),
]
STARTUP = """
import resource, sys, time
t0 = time.perf_counter()
from clipvec.model.encoder import ClipEncoder
from pathlib import Path
torch = sys.argv[2] == "torch"  # as the commands start it: from its trace (CLIPVEC_TORCH_TRACE)
e = ClipEncoder.load(sys.argv[1], runtime=sys.argv[2], precision=sys.argv[3], export_cache=Path(sys.argv[4]), trace=torch)
e.encode_text("a red car")
print(round(time.perf_counter() - t0, 2), round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
      int("torch" in sys.modules))
"""


def child_env(cache: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "HF_HUB_OFFLINE": "1",
        "CLIPVEC_EXPORT_CACHE": str(cache / "exports"),
    }


def json_line(out: str) -> dict[str, Any]:
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def run_row(args: argparse.Namespace, model: Path, runtime: str, precision: str) -> dict[str, Any]:
    env = child_env(args.cache)
    row: dict[str, Any] = {"runtime": runtime, "precision": precision}
    # The export (once): timed apart, so the start-up below is the cached one.
    t0 = time.perf_counter()
    cmd = [sys.executable, "-c", STARTUP, str(model), runtime, precision, str(args.cache / "exports")]
    subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    row["first_load_s"] = round(time.perf_counter() - t0, 1)
    starts = []
    for _ in range(args.startup_rounds):
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout.split()
        starts.append((float(out[0]), float(out[1]), int(out[2])))
    best = min(starts)
    row.update(startup_s=best[0], startup_rss_mb=best[1], startup_imports_torch=bool(best[2]))
    bench = [sys.executable, "-m", "clipvec.cli.bench", "--runtime", runtime, "--precision", precision]
    bench += ["--model", str(model), "--cache", str(args.cache), "--images", str(args.images)]
    bench += ["--original-subset", "1", "--skip-import", "--skip-fp32", "--repeat", "2", "--json-only"]
    bench += ["--text-queries", str(args.text_queries)]
    result = json_line(subprocess.run(bench, env=env, check=True, capture_output=True, text=True).stdout)
    row.update(
        img_s=result["ours_img_s"],
        text_p50_ms=result["text_p50_ms"],
        rss_mb=result["rss_ours_mb"],
        fidelity_min=result.get("fidelity_min_cos"),
        fidelity_mean=result.get("fidelity_mean_cos"),
        text_fidelity_min=result.get("text_fidelity_min_cos"),
    )
    if not args.skip_service:
        load = [sys.executable, str(REPO / "bench" / "service_load.py"), "--model", str(model)]
        load += ["--cache", str(args.cache), "--images", str(args.images), "--requests", str(args.requests)]
        load += ["--clients", str(args.clients), "--inprocess-img-s", str(row["img_s"]), "--json-only"]
        load += ["--text-queries", "20", "--env", f"CLIPVEC_RUNTIME={runtime}"]
        load += ["--env", f"CLIPVEC_PRECISION={precision}"]
        load += ["--env", f"CLIPVEC_EXPORT_CACHE={args.cache / 'exports'}"]
        done = subprocess.run(load, env=env, capture_output=True, text=True)
        if done.returncode:
            row["service_error"] = (
                done.stderr.strip().splitlines()[-1][:200] if done.stderr.strip() else "failed"
            )
        else:
            served = json_line(done.stdout)
            row.update(
                service_img_s=served.get("service_img_s"),
                service_errors=served.get("service_errors"),
                service_start_s=served.get("service_start_s"),
                service_rss_peak_worker_mb=served.get("service_rss_peak_worker_mb"),
            )
    return row


def format_table(result: dict[str, Any]) -> str:
    base = next((r for r in result["rows"] if (r["runtime"], r["precision"]) == ("torch", "bf16")), None)
    head = (
        f"{'runtime':<12} {'prec':<5} {'img/s':>7} {'x torch bf16':>12} {'svc img/s':>9} {'text p50':>8} "
        f"{'RSS MiB':>7} {'start s':>7} {'svc start':>9} {'min cos':>9} {'mean cos':>9} {'export s':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in result["rows"]:
        ratio = r["img_s"] / base["img_s"] if base else None

        def f(v: Any, spec: str = ".2f") -> str:
            return "-" if v is None else format(v, spec)

        lines.append(
            f"{r['runtime']:<12} {r['precision']:<5} {f(r['img_s']):>7} {f(ratio):>12} "
            f"{f(r.get('service_img_s')):>9} {f(r['text_p50_ms']):>8} {f(r['rss_mb'], '.0f'):>7} "
            f"{f(r['startup_s']):>7} {f(r.get('service_start_s'), '.1f'):>9} "
            f"{f(r['fidelity_min'], '.6f'):>9} {f(r['fidelity_mean'], '.6f'):>9} {f(r['first_load_s'], '.1f'):>8}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--requests", type=int, default=128)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--text-queries", type=int, default=50)
    p.add_argument("--startup-rounds", type=int, default=2)
    p.add_argument("--skip-service", action="store_true")
    p.add_argument("--rows", nargs="*", help="only these, as runtime:precision")
    args = p.parse_args(argv)
    args.cache = args.cache.resolve()
    model = ensure_model(args.cache / "vit-b-32-random", quiet=True)
    rows = [tuple(r.split(":")) for r in args.rows] if args.rows else ROWS
    result: dict[str, Any] = {"bench": "clipvec-runtimes", "load_avg_start": load_average(), **machine_info()}
    result["rows"] = []
    for runtime, precision in rows:
        print(f"{runtime} {precision} ...", file=sys.stderr, flush=True)
        result["rows"].append(run_row(args, model, runtime, precision))
        print(json.dumps(result["rows"][-1]), file=sys.stderr, flush=True)
    result["load_avg_end"] = load_average()
    print(format_table(result))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
