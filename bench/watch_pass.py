"""Issue 19: what one watch pass costs when (almost) nothing changed, against a re-run import.

    python bench/watch_pass.py [--files 10000] [--rounds 3] [--backends lite server]

The watcher indexes a settled batch of changes with one incremental import pass over the
whole folder (``clipvec.indexing.watcher``): unchanged files are listed and compared, never
read. This measures that pass in-process (store open, model never loaded: nothing to encode)
over a folder of N tiny files that the collection already lists with their size and mtime
(filled straight through ``ImageStore.upsert``, as ``bench/data_safety.py noop`` does), and,
in the same run, the baseline a user had before watch mode: ``python -m clipvec import DIR``
as a process, wall time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests" / "harness"), str(REPO / "bench")]

from data_safety import backend, fill_collection, settle, timed_import, tiny_model  # noqa: E402

from clipvec.indexing.importer import Importer  # noqa: E402
from clipvec.sources import open_source  # noqa: E402
from clipvec.store import ImageStore  # noqa: E402


def no_encoder():  # noqa: ANN201 - never returns
    raise AssertionError("a no-op pass loaded the model")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=["lite"], choices=["lite", "server"])
    args = parser.parse_args()
    model = tiny_model()
    with tempfile.TemporaryDirectory(prefix="clipvec-bench-") as tmp_s:
        tmp = Path(tmp_s)
        folder = tmp / "images"
        for i in range(args.files):
            sub = folder / f"d{i // 1000:03d}"
            if i % 1000 == 0:
                sub.mkdir(parents=True)
            (sub / f"f{i:06d}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + i.to_bytes(8, "little"))
        for kind in args.backends:
            with backend(kind, tmp) as uri:
                records = fill_collection(uri, str(model), 512, folder, args.files)
                settle(uri, str(model), 512)
                passes: list[float] = []
                with ImageStore(uri, model_name=str(model), dim=512, timeout=300) as store:
                    importer = Importer.local(no_encoder, store)
                    source = open_source(folder)
                    for _ in range(args.rounds):
                        t0 = time.perf_counter()
                        report = importer.run(source, prune=True)
                        passes.append(time.perf_counter() - t0)
                        assert (report.unchanged, report.files_read, report.pruned) == (records, 0, 0), report
                env = {"CLIPVEC_MODEL": str(model), "CLIPVEC_MILVUS_URI": uri}
                imports = [timed_import(folder, env, REPO / "src")[0] for _ in range(args.rounds)]
                print(
                    f"{kind}: {records} files unchanged; watch pass (in-process) median "
                    f"{statistics.median(passes):.2f}s of {[round(p, 2) for p in passes]}; "
                    f"`clipvec import` process median {statistics.median(imports):.2f}s "
                    f"of {[round(p, 2) for p in imports]}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
