"""A newcomer's first run, through real processes (issue 10).

* Without a model that can load (offline, CLIPVEC_MODEL unset), ``make run``,
  ``clipvec serve`` and the original ``bentoml serve service:vectorization`` stop at once
  with one message and its three ways out, instead of BentoML restarting the worker forever.
  So do several workers on one Milvus Lite file (issue 21), which would lock each other out.
* Relative settings (``./milvus.db``, ``images``, a model folder), from the environment or
  the folder's ``clipvec.toml``, resolve against the folder the user started from, whichever
  entry point starts the service; the CLI then shares that database.
* Every ``clipvec_*`` metric family the README documents is on /metrics from start-up.
* ``clipvec demo`` works offline on a clean checkout: "a red circle" finds red circles.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from procs import stop_group
from service_process import free_port

from clipvec.model.shapes import HELD_OUT_SEED_START, SHAPES_MODEL, draw_shape

REPO = Path(__file__).resolve().parents[2]
BENTOML = Path(sys.executable).with_name("bentoml")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a newcomer: offline, no CLIPVEC_* settings at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPVEC_")}
    env.update(HF_HUB_OFFLINE="1", BENTOML_DO_NOT_TRACK="True", **extra)
    return env


def fake_venv(tmp_path: Path) -> Path:
    """A VENV for the Makefile whose tools are this interpreter, marked as installed."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for name, module in (("python", None), ("clipvec", "clipvec"), ("bentoml", "bentoml")):
        args = f"-m {module} " if module else ""
        script = venv / "bin" / name
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" {args}"$@"\n')
        script.chmod(0o755)
    (venv / ".installed-run").touch()  # newer than pyproject.toml: `make setup` has nothing to do
    return venv


ENTRY_POINTS = {
    "make run": lambda tmp, port: [
        "make",
        "-s",
        "-C",
        str(REPO),
        "run",
        f"VENV={fake_venv(tmp)}",
        f"PORT={port}",
    ],
    "clipvec serve": lambda tmp, port: [sys.executable, "-m", "clipvec", "serve", "--port", str(port)],
    "bentoml serve": lambda tmp, port: [
        str(BENTOML),
        *("serve", "service:vectorization", "--working-dir", str(REPO), "--port", str(port)),
        *("--host", "127.0.0.1"),
    ],
}


def run_until_exit(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``cmd``'s exit; a process still running after 120 s fails the test (a restart loop, a hang).

    "Stops at once" is checked by what was printed (the message once, no worker's error), not
    by a clock: the tests assert that an answer comes, never how fast.
    """
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        # SIGTERM first: BentoML then stops its workers, which run in sessions of their own
        # (a SIGKILL of the group left them running, holding the pipes open).
        stop_group(proc, timeout=30)  # type: ignore[arg-type]
        out, err = proc.communicate()
        pytest.fail(f"{cmd[0]} was still running after 120 s (a restart loop?):\n{(out + err)[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


# `clipvec serve` refuses in process, before any process starts (tests/unit/cli/test_serve_cmd.py).
@pytest.mark.parametrize("entry", [e for e in ENTRY_POINTS if e != "clipvec serve"])
def test_no_model_stops_at_once_with_one_message(entry, tmp_path):
    if entry == "make run" and shutil.which("make") is None:
        pytest.fail("make is not installed")
    cwd = tmp_path / "start"
    cwd.mkdir()
    result = run_until_exit(ENTRY_POINTS[entry](tmp_path, free_port()), cwd, clean_env())
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert output.count("cannot load the CLIP model") == 1, output[-3000:]
    assert "'openai/clip-vit-base-patch32'" in output and "HF_HUB_OFFLINE" in output
    # The three ways out.
    assert "init --model /path/to/clip-vit-base-patch32 && make run" in output
    assert (
        "clipvec make-model ./random-clip && " in output
        and "init --model ./random-clip && make run" in output
    )
    assert "tests/assets/shapes-clip && make run" in output
    assert "Traceback" not in output and "Initializing service error" not in output
    assert not any(cwd.iterdir()), "a failed start created files"


def test_a_model_that_fails_in_the_worker_stops_the_server_once(tmp_path):
    """Past the up-front check (files all there) but unloadable: one message, exit 2, no respawns."""
    model = tmp_path / "clip"
    shutil.copytree(SHAPES_MODEL, model)
    config = json.loads((model / "config.json").read_text())
    config["projection_dim"] = 32  # the checkpoint's projections are 64-d: transformers refuses it
    (model / "config.json").write_text(json.dumps(config))
    cmd = ENTRY_POINTS["bentoml serve"](tmp_path, free_port())
    result = run_until_exit(cmd, tmp_path, clean_env(CLIPVEC_MODEL=str(model)))
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert output.count("cannot load the CLIP model") == 1, output[-3000:]
    assert "Traceback" not in output and "Initializing service error" not in output


@pytest.mark.parametrize("entry", ["bentoml serve", "clipvec serve"])
def test_several_workers_on_a_lite_file_stop_at_once_with_one_message(entry, tmp_path):
    """Issue 21 item 8: refused before BentoML starts a worker, the message on the user's terminal."""
    cwd = tmp_path / "start"
    cwd.mkdir()
    env = clean_env(CLIPVEC_MODEL=str(SHAPES_MODEL), CLIPVEC_WORKERS="2", CLIPVEC_MILVUS_URI="./milvus.db")
    result = run_until_exit(ENTRY_POINTS[entry](tmp_path, free_port()), cwd, env)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert output.count("CLIPVEC_WORKERS=2 cannot share the Milvus Lite file") == 1, output[-3000:]
    assert "milvus.db" in output and "Use CLIPVEC_WORKERS=1" in output, output[-3000:]
    assert "Traceback" not in output and "Initializing service error" not in output
    assert "store_locked:" not in output  # no worker got as far as opening the file
    assert not any(cwd.iterdir()), "a refused start created files"


# --------------------------------------------------------------------------- a working start
def readme_metric_families() -> set[str]:
    return set(re.findall(r"`(clipvec_[a-z_]+)(?:\{[^}]*\})?`", (REPO / "README.md").read_text()))


def wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the service exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    pytest.fail(f"not ready after {timeout}s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def png_bytes(color: str, shape: str, seed: int) -> bytes:
    import io

    buf = io.BytesIO()
    draw_shape(color, shape, size=128, seed=HELD_OUT_SEED_START + 600_000 + seed).save(buf, "PNG")
    return buf.getvalue()


def test_relative_settings_resolve_against_the_start_folder(tmp_path, test_output):
    """Started from another folder with relative settings (some in its clipvec.toml): data lands
    there, and the CLI sees it.

    ``bentoml serve --working-dir REPO`` is the hard case: BentoML runs its workers in the
    repository. (``clipvec serve`` hands the same absolute paths over: test_newcomer_cli.py.)
    """
    entry = "bentoml serve"
    cwd = tmp_path / "start"
    shutil.copytree(SHAPES_MODEL, cwd / "models" / "shapes")
    # The model comes from the folder's clipvec.toml (issue 22): the workers, which run in
    # the repository, must see it too; the rest from the environment.
    (cwd / "clipvec.toml").write_text('model = "models/shapes"\n')
    env = clean_env(CLIPVEC_MILVUS_URI="./milvus.db", CLIPVEC_IMAGES_DIR="images")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = test_output / f"first-run-{entry.replace(' ', '-')}.log"
    repo_db_before = sorted(p.name for p in (REPO / "src").glob("*.db*")) + sorted(
        p.name for p in REPO.glob("*.db*")
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ENTRY_POINTS[entry](tmp_path, port),
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_ready(proc, url, log)
        # Every documented metric family is there from the start, at zero.
        metrics = requests.get(url + "/metrics", timeout=10).text
        documented = readme_metric_families()
        assert len(documented) >= 4
        missing = [name for name in documented if f"\n{name}" not in metrics and f"\n{name}_" not in metrics]
        assert not missing, f"not on /metrics at start-up: {missing}"
        assert 'clipvec_images_decoded_total{format="JPEG"} 0.0' in metrics

        added = requests.post(url + "/add_image?name=red.png", data=png_bytes("red", "circle", 1), timeout=60)
        assert added.status_code == 200, added.text
        requests.post(url + "/add_image?name=blue.png", data=png_bytes("blue", "square", 2), timeout=60)
    finally:
        stop(proc)
    assert f"collection 'images' in {cwd / 'milvus.db'}; images in {cwd / 'images'}" in log.read_text()
    uploads = sorted(p.name for p in (cwd / "images" / "uploads").iterdir())
    assert len(uploads) == 2 and uploads[0].endswith("-blue.png")
    assert (cwd / "milvus.db").exists()
    assert (
        sorted(p.name for p in (REPO / "src").glob("*.db*")) + sorted(p.name for p in REPO.glob("*.db*"))
        == repo_db_before
    )
    assert not (REPO / "src" / "images").exists()

    # The CLI, run from the same folder with the same settings, searches the same database.
    found = subprocess.run(
        [sys.executable, "-m", "clipvec", "search", "a red circle", "--top-k", "1"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert found.returncode == 0, found.stderr
    assert re.search(r"ID: uploads/\S+-red\.png, Score: ", found.stdout), found.stdout


def test_demo_works_offline_on_a_clean_checkout(tmp_path, test_output):
    """`clipvec demo` (what `make demo` runs): draw shapes, import, serve; "a red circle" finds them."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = test_output / "demo.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "clipvec",
                "demo",
                "--dir",
                "demo",
                "--port",
                str(port),
                "--per-class",
                "1",
            ],
            cwd=tmp_path,
            env=clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_ready(proc, url, log)
        assert requests.get(url + "/ui", timeout=10).status_code == 200
        found = requests.post(
            url + "/search_text?top_k=3",
            data="a red circle",
            headers={"Content-Type": "text/plain"},
            timeout=60,
        )
        assert found.status_code == 200, found.text
        assert found.json()["hits"][0]["path"] == "red_circle_1.png"
        info = requests.post(url + "/collection_info", json={}, timeout=30).json()
        assert info["count"] == 30  # 6 colours x 5 shapes
    finally:
        stop(proc)
    text = log.read_text()
    assert f'open http://127.0.0.1:{port}/ui and search "a red circle"' in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
