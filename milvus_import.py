"""The original import script: imports the images in CLIPVEC_IMAGES_DIR (default ./images).

Same as ``clipvec import [FOLDER] [--prune] ...``; any ``clipvec import`` flag works here.
"""

import sys

from clipvec.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["import", *sys.argv[1:]]))
