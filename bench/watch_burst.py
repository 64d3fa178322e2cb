"""Issue 19: a burst of N new files copied into a watched folder, against a plain import of the same files.

    python bench/watch_burst.py [--files 2000] [--backends lite server]

In-process, the tests' tiny random CLIP (the encoder is not what is compared), Milvus Lite or
a private 2.3.5 server. Two phases per backend, in the same run, on the same N small PNGs:

* **import**: ``Importer.run`` over a folder that already holds the N files (the baseline:
  what `clipvec import DIR` does once the files are there);
* **watch**: a ``FolderWatcher`` (default settle 2 s) on an empty folder; the N files are
  copied in as fast as the disk takes them; timed from the first write until the collection
  holds all N, with the number of passes it took.

files/s = N / seconds; the peak RSS of this process after each phase (``ru_maxrss``) shows the
memory stays bounded (both phases share the process, so the second can only show growth).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests" / "harness"), str(REPO / "bench")]

from data_safety import backend, pngs, tiny_model  # noqa: E402

from clipvec.indexing.importer import Importer  # noqa: E402
from clipvec.indexing.watcher import FolderWatcher  # noqa: E402
from clipvec.model.encoder import ClipEncoder  # noqa: E402
from clipvec.sources import open_source  # noqa: E402
from clipvec.store import ImageStore  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plain_import(encoder: ClipEncoder, uri: str, folder: Path, n: int) -> float:
    with ImageStore(uri, collection="burst_import", model_name=encoder.name, dim=encoder.dim) as store:
        started = time.perf_counter()
        report = Importer.local(encoder, store).run(open_source(folder))
        seconds = time.perf_counter() - started
        assert report.imported == n and store.count() == n, report.summary()
    return seconds


def watched_burst(encoder: ClipEncoder, uri: str, files: Path, folder: Path, n: int) -> tuple[float, int]:
    folder.mkdir()
    (folder / "first.png").write_bytes((files / "00000.png").read_bytes())  # not empty: a pass runs
    with ImageStore(uri, collection="burst_watch", model_name=encoder.name, dim=encoder.dim) as store:
        engine = Importer.local(encoder, store)
        source = open_source(folder)
        watcher = FolderWatcher(
            source, lambda prune, scanned: engine.run(source, prune=prune, scanned=scanned), settle=2.0
        )
        thread = threading.Thread(target=watcher.run, daemon=True)
        thread.start()
        while watcher.status.passes < 1:  # the start-up pass over first.png
            time.sleep(0.05)
        passes_before = watcher.status.passes
        started = time.perf_counter()
        for path in sorted(files.iterdir()):
            shutil.copyfile(path, folder / path.name)
        while store.count() < n:  # first.png holds the bytes of 00000.png: one record for both
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        watcher.stop.set()
        thread.join(60)
        return seconds, watcher.status.passes - passes_before


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--backends", nargs="+", default=["lite"], choices=["lite", "server"])
    args = parser.parse_args()
    encoder = ClipEncoder.load(str(tiny_model()), precision="fp32")
    with tempfile.TemporaryDirectory(prefix="clipvec-bench-") as tmp_s:
        tmp = Path(tmp_s)
        files = tmp / "files"
        pngs(files, args.files)
        for kind in args.backends:
            with backend(kind, tmp) as uri:
                imported = plain_import(encoder, uri, files, args.files)
                rss_import = peak_rss_mb()
                watched, passes = watched_burst(encoder, uri, files, tmp / f"watched-{kind}", args.files)
                print(
                    f"{kind}: {args.files} files; import {args.files / imported:.0f} files/s ({imported:.1f} s, "
                    f"peak RSS {rss_import:.0f} MB); watched burst {args.files / watched:.0f} files/s "
                    f"({watched:.1f} s from the first copy to all stored, {passes} passes, "
                    f"peak RSS {peak_rss_mb():.0f} MB)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
