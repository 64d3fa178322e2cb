"""Milvus Lite's helper leaves no log files in the system temp folder unless asked to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

OPEN_A_STORE = (
    "import sys; from clipvec.store import ImageStore;"
    "s = ImageStore(sys.argv[1], collection='c', model_name='m', dim=8); s.count(); s.close()"
)


def open_store_with_temp(tmp_path: Path, **env: str) -> list[str]:
    """Open a Lite store in a fresh process whose temp folder is ``tmp_path/tmp``; what glog left there."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    base = {k: v for k, v in os.environ.items() if not k.startswith("GLOG_")}
    subprocess.run(
        [sys.executable, "-c", OPEN_A_STORE, str(tmp_path / "m.db")],
        env={**base, "TMPDIR": str(temp), **env},
        check=True,
        timeout=120,
    )
    return sorted(p.name for p in temp.iterdir() if p.name.startswith("milvus"))


def test_opening_a_lite_file_leaves_no_logs_in_the_temp_folder(tmp_path):
    assert open_store_with_temp(tmp_path) == []


def test_a_user_who_asks_for_lite_logs_gets_them(tmp_path):
    logs = open_store_with_temp(tmp_path, GLOG_minloglevel="0")
    assert any(".log.INFO." in name for name in logs), logs
