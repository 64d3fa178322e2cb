"""Lets the seed's ``python3 milvus_import.py`` / ``python3 milvus_search.py`` run as written.

After ``make run`` clipvec lives in ``.venv``, but ``python3`` is the system's, which has no
clipvec: the scripts then stopped with a ModuleNotFoundError traceback. Now they run again
with the checkout's ``.venv/bin/python`` (same arguments), or, without one, say what to do.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path


def ensure_clipvec() -> None:
    """Return if clipvec imports here; else re-run this script in ``.venv``, or exit 2 saying why."""
    if importlib.util.find_spec("clipvec") is not None:
        return
    venv = Path(__file__).resolve().parent / ".venv"
    venv_python = venv / "bin" / "python"
    # sys.prefix, not the executable: a venv's python is a symlink to the system's
    if venv_python.exists() and Path(sys.prefix).resolve() != venv.resolve():
        os.execv(venv_python, [str(venv_python), *sys.argv])
    script = os.path.basename(sys.argv[0])
    print(
        f"{script}: clipvec is not installed for {sys.executable}. Run `make run` (or `make setup`) in "
        f"{Path(__file__).resolve().parent} first; it installs clipvec into .venv, which this script then uses.",
        file=sys.stderr,
    )
    raise SystemExit(2)
