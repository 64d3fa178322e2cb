"""A Milvus Lite helper slow to open its socket is waited for, not reported as "unavailable".

milvus-lite starts its helper process, waits 0.5 s, then connects once: on a busy machine
(CI's 2 cores running three test workers) the helper had not made its socket yet and the
store failed to open ("Fail connecting to server on unix:...") in about one full suite run
in two. Here the helper really is slow: a wrapper sleeps 2 s before it starts the real one.
"""

from __future__ import annotations

import stat
from pathlib import Path

import milvus_lite

from clipvec.store import ImageStore


def slow_helper(folder: Path, delay: float) -> Path:
    """A milvus-lite binary folder whose ``milvus`` starts the real one ``delay`` seconds late."""
    real = Path(milvus_lite.__file__).parent / "lib"
    folder.mkdir()
    script = folder / "milvus"
    script.write_text(
        f'#!/bin/sh\nsleep {delay}\nLD_LIBRARY_PATH="{real}:$LD_LIBRARY_PATH" exec "{real}/milvus" "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def test_a_helper_slow_to_listen_is_waited_for(tmp_path, monkeypatch):
    monkeypatch.setenv("BIN_PATH", str(slow_helper(tmp_path / "bin", 2.0)))
    with ImageStore(str(tmp_path / "slow.db"), collection="slow", model_name="m", dim=4) as store:
        assert store.count() == 0
