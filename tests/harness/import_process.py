"""``clipvec import`` as a child process, for tests that kill things while it writes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def start_import(folder: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """A verbose import whose log (one line per written batch) is read from ``stdout``."""
    return subprocess.Popen(
        [sys.executable, "-m", "clipvec", "-v", "import", str(folder), "--no-progress"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_import(folder: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """A whole import (a rerun after a failure, a timed bench run), output captured."""
    return subprocess.run(
        [sys.executable, "-m", "clipvec", "import", str(folder), "--no-progress"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for_writes(proc: subprocess.Popen[str], writes: int, timeout: float = 180) -> list[str]:
    """Read the importer's log until it has written ``writes`` batches."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if sum("wrote" in s for s in seen) >= writes:
            return seen
    raise AssertionError("the import wrote too little before ending:\n" + "".join(seen[-30:]))
