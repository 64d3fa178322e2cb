"""`make run` installs what running needs; `make test` adds the test extra (issue 22).

`make run` once installed the whole test toolchain (Ray, Playwright, schemathesis, the
Milvus server wheel): a 2.7 GB venv. The Makefile is asked what it would do (`make -n`)
for a venv in a temp folder, in each state a user can be in.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(target: str, venv: Path) -> list[str]:
    """The commands `make TARGET` would run for this venv, one a line."""
    made = subprocess.run(
        ["make", "-n", "-s", "-C", str(REPO), target, f"VENV={venv}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.splitlines()


def pip_installs(lines: list[str]) -> list[str]:
    return [line for line in lines if " install " in line and "/pip" in line]


def venv_with(tmp_path: Path, *stamps: str) -> Path:
    """A venv folder that `make` takes as created, with these stamp files (newer than pyproject.toml)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    for stamp in stamps:
        (venv / stamp).touch()
    return venv


def test_make_run_on_a_fresh_clone_installs_the_runtime_only(tmp_path):
    lines = dry_run("run", tmp_path / "venv")
    assert any(line.endswith("-m venv " + str(tmp_path / "venv")) for line in lines), lines
    installs = pip_installs(lines)
    assert any("torch==" in line for line in installs), installs
    assert any(line.endswith("install -q -e .") for line in installs), installs
    assert not any("[" in line for line in installs), f"make run installs an extra: {installs}"
    assert lines[-1].endswith("clipvec serve --host 127.0.0.1 --port 3000")


def test_make_test_on_a_fresh_clone_installs_the_runtime_and_the_test_extra(tmp_path):
    installs = pip_installs(dry_run("test", tmp_path / "venv"))
    assert any("torch==" in line for line in installs), installs
    assert any(line.endswith("install -q -e '.[test]'") for line in installs), installs


def test_make_test_adds_the_test_extra_to_a_venv_made_by_make_run(tmp_path):
    installs = pip_installs(dry_run("test", venv_with(tmp_path, ".installed-run")))
    assert installs == [next(line for line in installs if line.endswith("install -q -e '.[test]'"))]


def test_a_venv_with_both_sets_installs_nothing(tmp_path):
    venv = venv_with(tmp_path, ".installed-run", ".installed-test")
    assert pip_installs(dry_run("test", venv)) == []
    assert pip_installs(dry_run("run", venv)) == []


# ---- make clean: what make, the tests and the tools made goes; the user's data stays --------
USER_DATA = {
    "milvus.db",
    "x.db",
    "x.db.lock",
    "images/",
    "milvus-data/",
    "stack-data/",
    "models/",
    ".bentoml/",
    "clipvec.toml",  # the user's settings (clipvec init)
    "random-clip/",  # a model the first-run advice made
}
# where the build puts these, besides the root
ALSO_AT = {
    "*.egg-info/": ["src/clipvec.egg-info/"],  # pip install -e .
    "__pycache__/": ["src/clipvec/__pycache__/", "tests/unit/__pycache__/"],
    "*.pyc": ["src/clipvec/stray.pyc"],
}


def leftover_for(pattern: str) -> list[str]:
    """Paths a .gitignore pattern ignores, as a run would leave them (a file inside each folder)."""
    paths = [pattern.lstrip("/").replace("*", "x"), *ALSO_AT.get(pattern, [])]
    return [p + "leftover" if p.endswith("/") else p for p in paths]


def test_make_clean_removes_everything_ignored_but_the_users_data(tmp_path):
    for name in ("Makefile", ".gitignore"):
        shutil.copy(REPO / name, tmp_path / name)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    patterns = [
        line.strip()
        for line in (REPO / ".gitignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for pattern in patterns:
        for path in leftover_for(pattern):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text("left by a run\n")
    made = subprocess.run(["make", "-s", "clean"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    status = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=normal"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    ignored = {line[3:] for line in status if line.startswith("!! ")}
    assert ignored == USER_DATA
