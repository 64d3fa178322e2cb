"""Start-up and footprint, as whole processes, today's code against a baseline (issue 20.1-2).

    python bench/startup.py [--base main] [--rounds 3] [--photos 80] [--runtime onnxruntime:fp32 ...]
        [--variant untraced:CLIPVEC_TORCH_TRACE=false ...]

Runs, for the baseline (``git archive BASE src service.py milvus_import.py _use_venv.py``
into a temp folder), for this checkout, and for this checkout with each ``--runtime
R:P`` (``CLIPVEC_RUNTIME``/``CLIPVEC_PRECISION``) and each ``--variant`` (other settings), in
turn, ``--rounds`` times (exports and torch's traces are made by each side's first import and
kept under ``--cache``):

* ``python3 milvus_import.py`` with one new photo in a folder of ``--photos`` imported photos
  (wall and CPU seconds, the process's peak RSS; Milvus Lite's helper process is not counted);
* ``bentoml serve service:vectorization``: seconds from start to the first 200 on ``/readyz``
  (and the CPU seconds all its processes used until then),
  the model worker's peak (VmHWM) and steady RSS (5 s after ready, after one text and one
  image request), and the supervisor's RSS;
* ``clipvec search "a red car"`` (local model; wall seconds and peak RSS).

Inputs: a random-weight full-size ViT-B/32 and JPEG photos of 1-12 MP built from real
photos (``clipvec bench``'s, cached under ``.bench-cache/``), precision bf16. Prints a table
of medians and the load average before and after: on a shared machine, the ratios of one
run are what count.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

TREE_FILES = ["src", "service.py", "milvus_import.py", "_use_venv.py"]


def baseline_tree(base: str, into: Path) -> Path:
    """``base``'s files a run needs, unpacked into ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", base, *TREE_FILES], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def unique_photo(source: Path, out: Path, n: int) -> None:
    """A photo no collection has seen: ``source`` with one pixel set from ``n``."""
    from PIL import Image

    with Image.open(source) as im:
        im = im.convert("RGB")
        im.putpixel((n % im.width, 0), (n % 251, (n * 7) % 253, (n * 13) % 255))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=90)
    out.write_bytes(buf.getvalue())


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MB of the process itself, last stdout line); raises if it fails.

    CPU seconds (user + system, threads included) depend much less on other people's load
    than wall seconds do.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed ({proc.returncode}):\n{err[-3000:]}")
    lines = out.strip().splitlines() or [""]
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, lines[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def serve(tree: Path, env: dict[str, str], photo: Path) -> dict[str, float]:
    """Start the service, time /readyz, read the worker's and the supervisor's RSS, stop it."""
    import psutil

    port = free_port()
    t0 = time.perf_counter()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(
        [sys.executable, "-m", "bentoml", "serve", "service:vectorization", "--port", str(port)],
        env=env,
        cwd=tree,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise SystemExit(f"bentoml serve exited {proc.returncode}:\n{log.read()[-3000:].decode()}")
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() - t0 > 300:
                raise SystemExit("service not ready in 300 s")
            time.sleep(0.05)
        ready = time.perf_counter() - t0
        tree_procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        cpu = sum(sum(p.cpu_times()[:2]) for p in tree_procs)  # user + system, at ready, all processes
        req = urllib.request.Request(url + "/vectorize_text", b"a red car", {"Content-Type": "text/plain"})
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
        req = urllib.request.Request(
            url + "/vectorize_image", photo.read_bytes(), {"Content-Type": "image/jpeg"}
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
        time.sleep(5)
        supervisor = psutil.Process(proc.pid)
        workers = [
            c for c in supervisor.children(recursive=True) if "milvus" not in " ".join(c.cmdline()).lower()
        ]
        worker = max(workers, key=lambda c: c.memory_info().rss)
        return {
            "ready_s": ready,
            "ready_cpu_s": cpu,
            "worker_peak_mb": status_kb(worker.pid, "VmHWM"),
            "worker_steady_mb": status_kb(worker.pid, "VmRSS"),
            "supervisor_mb": status_kb(proc.pid, "VmRSS"),
        }
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def build_inputs(cache: Path, count: int) -> tuple[Path, list[Path]]:
    """The model and photos, built (once) in a child process.

    Not in this one: a child's peak RSS as ``wait4`` reports it is at least its parent's RSS
    when it was forked (Linux keeps the larger high-water mark across the exec), so a bench
    that had built the 600 MB model itself would report every smaller child as that large.
    """
    script = (
        "import sys; from pathlib import Path\n"
        "from clipvec.cli.bench.inputs import build_photos, ensure_model\n"
        "cache = Path(sys.argv[1])\n"
        "print(ensure_model(cache / 'vit-b32-random'))\n"
        "for p in build_photos(cache / 'photos', int(sys.argv[2]), quiet=True): print(p)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}:{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run(
        [sys.executable, "-c", script, str(cache), str(count)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    paths = [Path(line) for line in out if line.strip()]
    return paths[0], paths[1:]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="main", help="the baseline commit (default main)")
    p.add_argument("--new", default="", help="run this commit as the new code (default: this working tree)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--photos", type=int, default=80, help="photos already imported (60-200)")
    p.add_argument("--cache", default=str(REPO / ".bench-cache"), help="model and photos, built once")
    p.add_argument(
        "--runtime",
        action="append",
        default=[],
        metavar="R:P",
        help="also run this checkout with CLIPVEC_RUNTIME=R, CLIPVEC_PRECISION=P (repeatable)",
    )
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:VAR=VALUE[,VAR=VALUE]",
        help="also run this checkout with these settings, e.g. untraced:CLIPVEC_TORCH_TRACE=false (repeatable)",
    )
    args = p.parse_args()

    cache = Path(args.cache)
    model, photos = build_inputs(cache, args.photos)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="clipvec-startup-") as tmp_s:
        tmp = Path(tmp_s)
        (tmp / "old").mkdir()
        trees = {"old": baseline_tree(args.base, tmp / "old"), "new": REPO}
        if args.new:
            (tmp / "new").mkdir()
            trees["new"] = baseline_tree(args.new, tmp / "new")
        # Every side's exports and torch traces in the benchmark's cache, not the user's (the
        # baseline predates both; each is made by the side's first import, before the rounds).
        exports = {"CLIPVEC_EXPORT_CACHE": str(cache / "exports")}
        settings = {name: {"CLIPVEC_PRECISION": "bf16", **exports} for name in trees}
        for variant in args.variant:
            name, _, assignments = variant.partition(":")
            trees[name] = trees["new"]
            settings[name] = {"CLIPVEC_PRECISION": "bf16", **exports}
            settings[name].update(item.split("=", 1) for item in assignments.split(",") if item)
        for choice in args.runtime:
            runtime, _, precision = choice.partition(":")
            trees[choice] = trees["new"]
            settings[choice] = {
                "CLIPVEC_RUNTIME": runtime,
                "CLIPVEC_PRECISION": precision or "fp32",
                **exports,
            }
        envs: dict[str, dict[str, str]] = {}
        for i, (name, tree) in enumerate(trees.items()):
            work = tmp / f"work-{i}"
            (work / "imgs").mkdir(parents=True)
            for photo in photos:
                os.link(photo, work / "imgs" / photo.name)
            envs[name] = {
                **os.environ,
                "PYTHONPATH": f"{tree / 'src'}:{os.environ.get('PYTHONPATH', '')}",
                "HF_HUB_OFFLINE": "1",
                "CLIPVEC_MODEL": str(model),
                "CLIPVEC_MILVUS_URI": str(work / "milvus.db"),
                "CLIPVEC_IMAGES_DIR": str(work / "imgs"),
                **settings[name],
            }
            print(f"{name}: first import of {len(photos)} photos ...", file=sys.stderr, flush=True)
            timed([sys.executable, "milvus_import.py", "--no-progress"], envs[name], tree)
        rows: dict[str, dict[str, list[float]]] = {n: {} for n in trees}
        probe = photos[len(photos) // 2]
        n = 0
        for round_ in range(args.rounds):
            for name in list(trees) if round_ % 2 == 0 else list(trees)[::-1]:
                tree, env = trees[name], envs[name]
                n += 1
                unique_photo(probe, Path(env["CLIPVEC_IMAGES_DIR"]) / f"new-{n}.jpg", n)
                wall, cpu, rss, line = timed([sys.executable, "milvus_import.py", "--no-progress"], env, tree)
                if "imported 1," not in line:
                    raise SystemExit(f"expected one import: {line}")
                got = rows[name]
                got.setdefault("import 1 new photo s", []).append(wall)
                got.setdefault("import CPU s", []).append(cpu)
                got.setdefault("import peak RSS MB", []).append(rss)
                wall, cpu, rss, _ = timed([sys.executable, "-m", "clipvec", "search", "a red car"], env, tree)
                got.setdefault("search s", []).append(wall)
                got.setdefault("search CPU s", []).append(cpu)
                got.setdefault("search peak RSS MB", []).append(rss)
                for key, value in serve(tree, env, probe).items():
                    label = {
                        "ready_s": "serve ready s",
                        "ready_cpu_s": "serve CPU s to ready",
                        "worker_peak_mb": "worker peak RSS MB",
                        "worker_steady_mb": "worker steady RSS MB",
                        "supervisor_mb": "supervisor RSS MB",
                    }[key]
                    got.setdefault(label, []).append(value)
                print(
                    f"round {round_ + 1} {name}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in got.items()),
                    file=sys.stderr,
                    flush=True,
                )
    load_after = os.getloadavg()
    print(
        f"\nbaseline {args.base} against {args.new or 'this tree'}, {args.rounds} rounds in turn, "
        f"{len(photos)} photos, bf16 unless a runtime says otherwise, medians"
    )
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; {os.cpu_count()} CPUs")
    others = [name for name in trees if name != "old"]
    print(
        f"{'':24} {'before':>9}"
        + "".join(f" {('after' if n == 'new' else n):>20} {'ratio':>6}" for n in others)
    )
    for key in rows["old"]:
        old = statistics.median(rows["old"][key])
        cells = ""
        for name in others:
            value = statistics.median(rows[name][key])
            cells += f" {value:20.2f} {value / old:6.2f}"
        print(f"{key:24} {old:9.2f}{cells}")


if __name__ == "__main__":
    main()
