"""Benchmark: the original code path vs clipvec's, side by side (same as ``clipvec bench``).

    python bench/run.py [--images 48] [--model FOLDER] [--original-subset 12] [--json-only] ...

See ``python bench/run.py --help`` and docs/BENCHMARKS.md.
"""

import sys

from clipvec.cli.bench import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
