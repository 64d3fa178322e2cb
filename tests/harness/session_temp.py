"""One temporary folder per test session, removed when the session ends.

A run of the suite once left about 1.2 GB in the system temp folder: pytest keeps the
``tmp_path`` folders of its last three sessions (``/tmp/pytest-of-$USER``), and the
processes the tests start write their own files there (BentoML's sockets and client
folders, Milvus Lite's sockets, torch's compile cache, a local Ray's sessions). So the
session (the pytest-xdist controller, or a plain pytest) makes one short folder in the
system temp folder and points both at it: pytest's ``--basetemp`` (unless given) and
``TMPDIR`` for itself and every process it starts (xdist workers included). It is removed
at the end, whatever the outcome; logs worth keeping go to ``test-output/`` instead.

clipvec's export cache (``CLIPVEC_EXPORT_CACHE``: the runtimes' exports, torch's traces and
the weights' hashes, which every model start in a test would otherwise leave in
``~/.cache/clipvec``) is a folder of the session's too, and so is ``XDG_CACHE_HOME``, the
default of every user cache (the export cache and thumbnails of a test that clears the
``CLIPVEC_*`` variables, a Hugging Face cache nobody set).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT_ENV = "CLIPVEC_TESTS_TMP"  # the session's folder, for the processes it starts
SYSTEM_TMP_ENV = "CLIPVEC_TESTS_SYSTEM_TMP"  # the system temp folder from before the session
# Where the suite's leftovers would show (tree_state.py checks it): in a worker, TMPDIR is
# already the session's folder, so the controller passes the real one down.
SYSTEM_TEMP = Path(os.environ.get(SYSTEM_TMP_ENV) or tempfile.gettempdir())
# Short: Ray's unix sockets live below TMPDIR/ray/session_.../sockets/ (a 107-byte limit).
ROOT_PREFIX = "cvtest-"
EXPORT_CACHE_ENV = "CLIPVEC_EXPORT_CACHE"

_root_key = pytest.StashKey[Path]()
_saved_key = pytest.StashKey[dict]()


def enter(config: pytest.Config) -> None:
    """Make the session's folder and point ``--basetemp`` and ``TMPDIR`` at it (not in workers)."""
    if hasattr(config, "workerinput") or os.environ.get(ROOT_ENV):
        return  # an xdist worker (or a pytest inside a test): the outer session's folder holds
    root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX, dir=SYSTEM_TEMP))
    (root / "t").mkdir()
    keys = (ROOT_ENV, SYSTEM_TMP_ENV, "TMPDIR", EXPORT_CACHE_ENV, "XDG_CACHE_HOME")
    config.stash[_saved_key] = {k: os.environ.get(k) for k in keys}
    os.environ.update(
        {
            ROOT_ENV: str(root),
            SYSTEM_TMP_ENV: str(SYSTEM_TEMP),
            "TMPDIR": str(root / "t"),
            EXPORT_CACHE_ENV: str(root / "exports"),
            "XDG_CACHE_HOME": str(root / "cache"),
        }
    )
    tempfile.tempdir = None  # tempfile reads TMPDIR again
    if config.option.basetemp is None:  # a --basetemp the user gave stays theirs
        config.option.basetemp = str(root / "pytest")
    config.stash[_root_key] = root


def leave(config: pytest.Config) -> None:
    """Remove the session's folder (after every fixture and server has stopped) and restore TMPDIR."""
    root = config.stash.get(_root_key, None)
    if root is None:
        return
    shutil.rmtree(root, ignore_errors=True)
    for key, value in config.stash[_saved_key].items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    tempfile.tempdir = None
