"""The original import script: imports the images in CLIPVEC_IMAGES_DIR (default ./images).

Same as ``clipvec import [FOLDER] [--prune] ...``; any ``clipvec import`` flag works here.
"""

import sys

from _use_venv import ensure_clipvec

ensure_clipvec()  # python3 without clipvec: run again with the checkout's .venv

from clipvec.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["import", *sys.argv[1:]]))
