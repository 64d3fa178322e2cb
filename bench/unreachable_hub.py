"""How long ``python3 milvus_import.py`` takes to give up when the hub cannot be reached (issue 22).

A newcomer online in settings but offline in fact (no HF_HUB_OFFLINE, no cached model):
the libraries retry with backoff for ~30 s, each warning twice. This runs the original
script in a fresh folder with one image, an empty hub cache and a hub that refuses
connections (``HF_ENDPOINT=http://127.0.0.1:<closed port>``; ``--dns`` leaves the real
endpoint, which fails at the name lookup on a machine without network), once per source
tree given (``--baseline-src`` for the code before, this checkout's ``src`` after), and
prints one JSON line per run: seconds, exit code, retry and warning lines.

    python bench/unreachable_hub.py --baseline-src /path/to/main/src --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run(src: Path, dns: bool) -> dict[str, object]:
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="clipvec-hub-bench-") as tmp:
        folder = Path(tmp)
        (folder / "images").mkdir()
        Image.new("RGB", (32, 32), "red").save(folder / "images" / "red.png")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIPVEC_", "HF_", "TRANSFORMERS_"))}
        env.update(PYTHONPATH=str(src), HF_HOME=str(folder / "hf-home"))
        if not dns:
            env["HF_ENDPOINT"] = f"http://127.0.0.1:{closed_port()}"
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, str(REPO / "milvus_import.py"), "--no-progress"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        seconds = time.monotonic() - started
    return {
        "src": str(src),
        "seconds": round(seconds, 2),
        "exit": done.returncode,
        "retry_lines": done.stderr.count("Retrying in"),
        "warning_lines": done.stderr.count("WARNING"),
        "message": done.stderr.count("cannot load the CLIP model"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline-src", type=Path, help="the src folder of the code to compare with")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dns", action="store_true", help="the real endpoint (fails at the name lookup)")
    args = parser.parse_args()
    trees = ([args.baseline_src] if args.baseline_src else []) + [REPO / "src"]
    for src in trees:
        runs = [one_run(src.resolve(), args.dns) for _ in range(args.runs)]
        for run in runs:
            print(json.dumps(run))
        median = statistics.median(float(r["seconds"]) for r in runs)  # type: ignore[arg-type]
        print(json.dumps({"src": str(src), "median_seconds": round(median, 2), "runs": len(runs)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
