"""Commands printed in messages, written the way they run from where the user is.

Advice such as ``clipvec make-model ./random-clip`` is "command not found" when clipvec runs
from a virtual environment that is not activated (``make run`` uses ``.venv/bin/clipvec``).
So a printed command names the script that would run: plain ``clipvec`` when that is what
the shell finds on PATH, else the environment's own script (``.venv/bin/clipvec``), else
``python -m clipvec`` with this interpreter.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def _shown_path(path: Path) -> str:
    """``path`` relative to the current folder when it is below it (``.venv/bin/clipvec``)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _same_file(a: str | Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def shown_command(name: str = "clipvec") -> str:
    """How to run this environment's ``name`` script (``clipvec``, ``pip``) from here."""
    script = Path(sys.prefix) / "bin" / name
    on_path = shutil.which(name)
    if on_path is not None and (not script.exists() or _same_file(on_path, script)):
        return name
    if script.exists():
        return _shown_path(script)
    python = _shown_path(Path(sys.executable))
    return f"{python} -m {'pip' if name == 'pip' else 'clipvec'}"
