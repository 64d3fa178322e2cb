"""`clipvec import --ray` with no address: a local Ray, whatever a past `ray start` left (issue 22).

Ray's own default joins the cluster recorded in ``$RAY_TMPDIR/ray/ray_current_cluster``;
a user's stale file (its cluster long gone) made the import hang for 10 minutes. Now no
address means a new local Ray, and a dead address fails within seconds. Each import is
``clipvec import`` in a child process, with Ray's temp folder in a folder of this test.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from ray_cluster import ray_env

from clipvec.model.shapes import SHAPES_MODEL

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def ray_tmp() -> Iterator[Path]:
    """RAY_TMPDIR with a stale cluster file: a short path (Ray's unix sockets have a 107-byte limit)."""
    pytest.importorskip("ray", reason="pip install -e '.[ray]'")  # make test installs it
    folder = Path(tempfile.mkdtemp(prefix="rl-", dir="/tmp"))
    (folder / "ray").mkdir()
    (folder / "ray" / "ray_current_cluster").write_text(dead_address())
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def dead_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"  # closed again: nothing listens there


def run_import(
    tmp_path: Path, ray_tmp: Path, *ray_args: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """`clipvec import pics --ray ...` in its own process group, killed whole if it outlives ``timeout``."""
    pics = tmp_path / "pics"
    pics.mkdir(exist_ok=True)
    for i, colour in enumerate(("red", "green", "blue")):
        Image.new("RGB", (48, 48), colour).save(pics / f"{i}.png")
    env = ray_env({k: v for k, v in os.environ.items() if not k.startswith(("CLIPVEC_", "RAY_"))})
    env.update(
        HF_HUB_OFFLINE="1",
        RAY_TMPDIR=str(ray_tmp),
        RAY_USAGE_STATS_ENABLED="0",
        CLIPVEC_MILVUS_URI=str(tmp_path / "milvus.db"),
        CLIPVEC_MODEL=str(SHAPES_MODEL),
        CLIPVEC_RAY_ENCODERS="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "clipvec", "import", str(pics), "--no-progress", "--ray", *ray_args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"clipvec import --ray {' '.join(ray_args)} still running after {timeout:.0f} s")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_no_address_starts_a_local_ray_instead_of_joining_a_stale_cluster(tmp_path, ray_tmp):
    # generous: a local Ray starts in ~10-30 s on 2 loaded cores; the stale file hung for 10 min
    done = run_import(tmp_path, ray_tmp, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "imported 3," in done.stdout, done.stdout


def test_a_dead_address_fails_within_seconds_with_one_clear_line(tmp_path, ray_tmp):
    address = dead_address()
    done = run_import(tmp_path, ray_tmp, address, timeout=60)  # the model check and Python start included
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"cannot connect to the Ray cluster at {address}: nothing answers there" in done.stderr
    assert "Traceback" not in done.stderr
