"""README's `tools/milvus_server.sh` line, run as a user would: from a working folder, relative `--data`.

With a relative data folder the server once crashed three times at start (issue 22): the
binary runs inside the data folder, so every relative config path pointed nowhere. The line
is read from README, so a change there changes what this test runs.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from procs import free_ports, stop_group

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.server


def readme_server_command() -> list[str]:
    """The README's `tools/milvus_server.sh ...` line (comment dropped), split as bash would."""
    lines = [
        line.split("#", 1)[0].strip()
        for line in (REPO / "README.md").read_text().splitlines()
        if line.startswith("tools/milvus_server.sh ")
    ]
    assert len(lines) == 1, f"README should show one tools/milvus_server.sh line, found {lines}"
    return shlex.split(lines[0])


def test_readme_names_a_relative_data_folder():
    argv = readme_server_command()
    data = argv[argv.index("--data") + 1]
    assert not os.path.isabs(data), "the README line is the relative-path case this file tests"


def with_free_ports(argv: list[str]) -> list[str]:
    """README's arguments, but on free ports: 19530/9091 may be taken by other servers on this machine."""
    grpc, health = free_ports(2)
    out = list(argv)
    out[out.index("--port") + 1] = str(grpc)
    if "--health-port" in out:
        out[out.index("--health-port") + 1] = str(health)
    else:
        out += ["--health-port", str(health)]
    return out


def read_uri(proc: subprocess.Popen[str], timeout: float) -> str:
    """The `URI=...` line the script prints once the server answers (it exits on a failed start)."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("URI="):
            return line.strip().removeprefix("URI=")
        if time.monotonic() > deadline:
            break
    pytest.fail(f"no URI line from the script (exit code {proc.poll()})")


def test_the_readme_line_starts_a_server_that_answers_and_stops_on_ctrl_c(tmp_path):
    argv = with_free_ports(readme_server_command())
    script = REPO / argv[0]
    data = argv[argv.index("--data") + 1]
    log = tmp_path / "script.log"
    env = {**os.environ, "PYTHON": sys.executable}  # this venv's Python, whichever checkout runs it
    with open(log, "w") as stderr:
        proc = subprocess.Popen(
            [str(script), *argv[1:]],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
        try:
            uri = read_uri(proc, timeout=300)  # up to 3 attempts of 90 s on a loaded machine
            from pymilvus import MilvusClient

            client = MilvusClient(uri=uri, timeout=10)
            try:
                assert client.list_collections() == []
            finally:
                client.close()
            os.kill(proc.pid, signal.SIGINT)  # Ctrl-C, as README says
            assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                stop_group(proc, timeout=30)
    assert "stopped in" in log.read_text()
    # the data folder is kept where the user asked for it: relative to the working folder
    assert (tmp_path / data / "data" / "etcd.data").is_dir()
