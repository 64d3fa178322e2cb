"""The original search script: ``python3 milvus_search.py "a dog"``.

Without a search text it searches for SEARCH_TERM below, as the original script did.
Same as ``clipvec search``; any of its flags works here (--top-k, --image, --json, ...).
"""

import sys

from _use_venv import ensure_clipvec

ensure_clipvec()  # python3 without clipvec: run again with the checkout's .venv

from clipvec.cli import build_parser, main  # noqa: E402

SEARCH_TERM = "a photo of a dog"

if __name__ == "__main__":
    args = sys.argv[1:]
    parsed = build_parser().parse_args(["search", *args])
    if parsed.query is None and parsed.image is None:
        args = [SEARCH_TERM, *args]
    raise SystemExit(main(["search", *args]))
