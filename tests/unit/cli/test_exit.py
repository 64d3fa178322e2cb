"""A ``clipvec`` process's exit (cli/exit.py): collected once and frozen, everything else as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import atexit, gc, json, sys
    from pathlib import Path

    out = Path(sys.argv[1])
    # Registered before the CLI's handler, so it runs after it: what the teardown starts from.
    atexit.register(lambda: (out / "frozen").write_text(str(gc.get_freeze_count())))
    import torch  # the processes it is for
    from clipvec.cli.main import main

    code = main(json.loads(sys.argv[2]))
    atexit.register(lambda: (out / "handler").write_text("ran"))
    print("x" * 200_000)
    sys.exit(code + 3)
    """
)


def run(tmp_path, command: list[str], *, torch: bool = True) -> subprocess.CompletedProcess:
    script = SCRIPT if torch else SCRIPT.replace("import torch", "pass")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "CLIPVEC_MILVUS_URI": str(tmp_path / "none.db"),
    }
    return subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), json.dumps(command)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_after_torch_the_exit_freezes_and_the_rest_of_the_exit_happens_as_before(tmp_path):
    done = run(tmp_path, ["config", "--json"])
    assert done.returncode == 3, done.stderr[-2000:]
    assert done.stdout.endswith("x" * 200_000 + "\n") and '"milvus_uri"' in done.stdout
    assert (tmp_path / "handler").read_text() == "ran"  # the exit handlers
    assert int((tmp_path / "frozen").read_text()) > 100_000  # torch's objects, not walked again


def test_without_torch_nothing_is_frozen(tmp_path):
    done = run(tmp_path, ["search", "a dog"], torch=False)  # no database: said before any model loads
    assert done.returncode == 4, done.stderr[-2000:]
    assert "there is no database" in done.stderr
    assert (tmp_path / "frozen").read_text() == "0"
    assert (tmp_path / "handler").read_text() == "ran"
