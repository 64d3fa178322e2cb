"""``python -m clipvec ...`` as a user runs it: a child process, offline, from the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_clipvec(
    args: list[str], env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Run ``clipvec ARGS`` with this process's environment plus ``env``; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "clipvec", *args],
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
