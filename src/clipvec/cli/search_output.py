"""What ``clipvec search`` does with its hits besides printing them: ``--paths`` and ``--open``.

Stored paths are relative to the images folder (``CLIPVEC_IMAGES_DIR``), absolute for a
folder imported from elsewhere (``clipvec.sources.roots``), and escaped where a name is not UTF-8 (``clipvec.sources.paths``): ``--paths`` prints each hit's real file name,
absolute and byte for byte, one per line and nothing else on stdout, for ``xargs``. An
``s3://`` path is printed as it is. ``--open`` hands the files to the platform's viewer
(``xdg-open``, macOS ``open``, Windows' file associations).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

from clipvec.locations import is_s3_uri
from clipvec.sources.paths import fs_path

VIEWER_WAIT = 5.0  # seconds to wait for the viewer launchers' exit codes (a viewer may stay open)


def file_names(images_dir: str, stored: Iterable[str]) -> list[str]:
    """The absolute file name of each stored path (``os.fsdecode`` form), or the ``s3://`` path."""
    root = Path(images_dir).expanduser().resolve()
    return [path if is_s3_uri(path) else os.fspath(fs_path(root, path)) for path in stored]


def missing_files(names: Iterable[str]) -> list[str]:
    return [name for name in names if not is_s3_uri(name) and not os.path.isfile(name)]


def print_paths(names: Iterable[str], out: BinaryIO) -> None:
    """One name per line, as the bytes the file system knows (no escapes, no quoting)."""
    for name in names:
        out.write(os.fsencode(name) + b"\n")
    out.flush()


def viewer() -> list[str] | None:
    """The command that opens a file with the user's default viewer here (``None``: there is none)."""
    if sys.platform == "win32":
        return []  # os.startfile
    command = "open" if sys.platform == "darwin" else "xdg-open"
    found = shutil.which(command)
    return [found] if found else None


def open_files(names: Sequence[str], err: TextIO) -> int:
    """Opens each local file with the viewer; 0 when every one was handed over, else 1 (said on ``err``)."""
    command = viewer()
    if command is None:
        tool = "open" if sys.platform == "darwin" else "xdg-open (package xdg-utils)"
        err.write(f"clipvec: --open needs {tool} to open files, and it is not on PATH; --paths prints them\n")
        return 1
    local = [name for name in names if not is_s3_uri(name)]
    if len(local) < len(names):
        err.write(f"clipvec: {len(names) - len(local)} result(s) in S3 cannot be opened here\n")
    problems = len(names) - len(local)
    launched: list[tuple[str, subprocess.Popen[bytes]]] = []
    for name in local:
        if not os.path.isfile(name):
            err.write(f"clipvec: cannot open {name!r}: no such file\n")
            problems += 1
        elif not command:
            os.startfile(name)  # type: ignore[attr-defined]  # Windows only
        else:
            launched.append((name, _launch([*command, name])))
    for name, proc in launched:
        try:
            code = proc.wait(timeout=VIEWER_WAIT)
        except subprocess.TimeoutExpired:
            continue  # the launcher stays with its window: it did open it
        if code != 0:
            err.write(f"clipvec: {command[0]} could not open {name!r} (exit {code})\n")
            problems += 1
    return 1 if problems else 0


def _launch(argv: list[str]) -> subprocess.Popen[bytes]:
    """The viewer in a session of its own, not reading our stdin nor writing to our stdout."""
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
