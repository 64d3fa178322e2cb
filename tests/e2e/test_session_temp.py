"""A test session leaves nothing in the system temp folder (issue 22).

A run of the suite once left 1.2 GB there: pytest keeps its last three sessions' tmp_path
folders, and the servers the tests start write their own. A pytest session of its own runs
tests/harness/session_temp_probe.py (the root conftest included) with TMPDIR pointing at an
empty folder; that folder must be empty again afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import session_temp

REPO = Path(__file__).resolve().parents[2]


def test_a_session_leaves_its_temp_folder_as_it_found_it(tmp_path):
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    env = {
        k: v for k, v in os.environ.items() if k not in (session_temp.ROOT_ENV, session_temp.SYSTEM_TMP_ENV)
    }
    env["TMPDIR"] = str(system_temp)  # the inner session's system temp folder
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/harness/session_temp_probe.py",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout
    left = sorted(str(p.relative_to(system_temp)) for p in system_temp.rglob("*"))
    assert left == [], f"the session left in the temp folder: {left[:20]}"
