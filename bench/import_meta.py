"""The import rate with and without reading photo metadata, in one run (issue 17.1).

    python bench/import_meta.py --baseline-src /path/to/clipvec-before/src [--images 200] [--rounds 2]

1. the same JPEG photos as the other benchmarks (``build_photos``), here 1-4 MP, each then
   given a real EXIF block (camera, lens, date with offset, GPS; spliced in as an APP1
   segment, so the pixels are byte for byte the same as without);
2. ``bench/run.py`` (``clipvec bench``) on that folder, import row only in spirit: it runs
   the real ``Importer`` into a fresh Milvus Lite db and reports files/s and the per-stage
   seconds; once with ``PYTHONPATH`` = the baseline sources (no metadata read), once with
   these sources (metadata read), alternating ``--rounds`` times so that the load of
   others falls on both alike; the best run of each counts;
3. the decode step alone (``decode_image`` of every photo, as the importer calls it), timed
   in CPU seconds of its own process (``time.process_time``, best of 3 passes), for both
   sources alternately: the others' load on a shared machine moves wall-clock import rates
   by far more than 3%, while the CPU time a decode takes barely moves. The metadata's share
   of the import = (CPU s per photo with - without) / (wall s per photo of the baseline import).

Prints one line per run, a markdown table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from clipvec.cli.bench import DEFAULT_CACHE, build_photos, load_average, machine_info

REPO_ROOT = Path(__file__).resolve().parent.parent
CAMERAS = [
    ("Canon", "Canon EOS R5", "RF24-105mm F4"),
    ("NIKON CORPORATION", "NIKON Z 6", ""),
    ("Apple", "iPhone 13", ""),
]


def exif_segment(i: int) -> bytes:
    """An APP1 segment with camera, lens, date (+offset) and GPS, varied by ``i``."""
    make, model, lens = CAMERAS[i % len(CAMERAS)]
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = make, model
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = f"2023:{1 + i % 12:02d}:{1 + i % 28:02d} 10:{i % 60:02d}:00"
    sub[0x9011] = "+01:00"
    if lens:
        sub[0xA434] = lens
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (IFDRational(45, 1), IFDRational(i % 60, 1), IFDRational(0, 1)), 3: "E"})
    gps[4] = (IFDRational(7, 1), IFDRational(30, 1), IFDRational(i % 60, 1))
    body = exif.tobytes()  # starts with b"Exif\0\0"
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def with_exif(paths: list[Path]) -> None:
    """Give each photo an EXIF block (once): the pixels stay byte for byte the same."""
    for i, path in enumerate(paths):
        data = path.read_bytes()
        if b"Exif\x00\x00" in data[:64]:
            continue
        path.write_bytes(data[:2] + exif_segment(i) + data[2:])


def run_bench(src: Path, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable, str(REPO_ROOT / "bench" / "run.py"), "--images", str(args.images),
        "--megapixels", *map(str, args.megapixels), "--cache", str(args.cache), "--photos", str(args.photos),
        "--skip-original", "--skip-fp32", "--repeat", "1", "--text-queries", "1", "--json-only",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600, cwd=REPO_ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"bench failed with {src}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


DECODE_CPU = """
import json, sys, time
from pathlib import Path
from clipvec.images import decode_image
datas = [Path(p).read_bytes() for p in sys.argv[1:]]
best = None
for _ in range(3):
    t0 = time.process_time()
    for data in datas:
        decode_image(data, min_side=224)
    spent = time.process_time() - t0
    best = spent if best is None else min(best, spent)
print(json.dumps({"cpu_s": best}))
"""


META_CPU = """
import io, json, sys, time
from pathlib import Path
from PIL import Image
from clipvec.images.exif_meta import meta_from_exif
datas = [Path(p).read_bytes() for p in sys.argv[1:]]
best = None
for _ in range(5):
    spent = 0.0
    for data in datas:
        exif = Image.open(io.BytesIO(data)).getexif()  # the decoder parses it anyway (orientation)
        t0 = time.process_time()
        meta_from_exif(exif)
        spent += time.process_time() - t0
    best = spent if best is None else min(best, spent)
print(json.dumps({"cpu_s": best}))
"""


def meta_cpu(paths: list[Path]) -> float:
    """CPU seconds that reading the metadata adds to decoding every photo once (best of 5)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", META_CPU, *map(str, paths)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["cpu_s"])


def decode_cpu(src: Path, paths: list[Path]) -> float:
    """CPU seconds to decode every photo once (best of 3 passes) with the sources at ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", DECODE_CPU, *map(str, paths)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["cpu_s"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline-src", type=Path, required=True, help="the sources without metadata reading")
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--megapixels", type=float, nargs=2, default=(1.0, 4.0))
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--photos", type=Path, default=None, help="photo folder (default CACHE/photos-exif)")
    p.add_argument("--skip-import", action="store_true", help="the decode step only")
    args = p.parse_args()
    args.cache = args.cache.resolve()
    args.photos = (args.photos or args.cache / "photos-exif").resolve()
    paths = build_photos(args.photos, args.images, megapixels=tuple(args.megapixels), quiet=True)
    with_exif(paths)
    ours = REPO_ROOT / "src"
    runs: dict[str, list[dict]] = {"baseline": [], "metadata": []}
    load_start = load_average()
    cpu: dict[str, list[float]] = {"baseline": [], "metadata": []}
    for r in range(args.rounds):
        for label, src in (("baseline", args.baseline_src), ("metadata", ours)):
            cpu[label].append(decode_cpu(src, paths))
            print(f"round {r + 1} {label}: decode {cpu[label][-1]:.3f} CPU s", file=sys.stderr, flush=True)
            if args.skip_import:
                continue
            got = run_bench(src, args)
            runs[label].append(got)
            stages = got["import_stages_s"]
            print(
                f"round {r + 1} {label}: import {got['import_files_s']} files/s, decode {stages['decode']} s, "
                f"prepare+encode {got['ours_img_s']} img/s, load {load_average()}",
                file=sys.stderr,
                flush=True,
            )
    added = meta_cpu(paths)
    print(f"metadata read alone: {added:.4f} CPU s for {len(paths)} photos", file=sys.stderr)
    cpu_best = {k: min(v) for k, v in cpu.items()}
    per_photo_ms = (cpu_best["metadata"] - cpu_best["baseline"]) / len(paths) * 1000
    print(
        f"decode CPU s for {len(paths)} photos (best): {cpu_best}; metadata costs {per_photo_ms:.3f} ms per photo"
    )
    if args.skip_import:
        print(
            json.dumps(
                {
                    "bench": "import_meta",
                    "images": len(paths),
                    "decode_cpu_s": cpu,
                    "per_photo_ms": per_photo_ms,
                    "meta_cpu_s": added,
                }
            )
        )
        return 0
    best = {k: max(v, key=lambda g: g["import_files_s"]) for k, v in runs.items()}
    decode = {k: min(g["import_stages_s"]["decode"] for g in v) for k, v in runs.items()}
    ratio = best["metadata"]["import_files_s"] / best["baseline"]["import_files_s"]
    print("| sources | import files/s (best) | decode s per thread (best) | prepare+encode img/s (best) |")
    print("|---|---:|---:|---:|")
    for k in runs:
        ours_best = max(g["ours_img_s"] for g in runs[k])
        print(f"| {k} | {best[k]['import_files_s']} | {decode[k]} | {ours_best} |")
    summary = {
        "bench": "import_meta",
        "images": args.images,
        "megapixels": list(args.megapixels),
        "rounds": args.rounds,
        **machine_info(),
        "load_avg_start": load_start,
        "load_avg_end": load_average(),
        "import_files_s": {k: [g["import_files_s"] for g in v] for k, v in runs.items()},
        "decode_s": {k: [g["import_stages_s"]["decode"] for g in v] for k, v in runs.items()},
        "ratio_best": round(ratio, 4),
        "meta_read_cpu_s": round(added, 4),
        "meta_read_share_of_import": round(added / len(paths) * best["baseline"]["import_files_s"], 5),
        "decode_cpu_s": cpu,
        "metadata_ms_per_photo": round(per_photo_ms, 3),
        "metadata_share_of_import": round(per_photo_ms / 1000 * best["baseline"]["import_files_s"], 4),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
