"""Issue 18.1 through real processes: a checkpoint of a family clipvec cannot run yet (its
config.json's model_type) is refused by every entry point in one line naming the supported
families, before torch is imported or a weight is read, and nothing is created.

The checkpoint is the shapes CLIP relabelled ``blip`` (a model type clipvec does not run), with weights that are not safetensors
at all: an error about the weights would mean they were looked at.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from payloads import jpeg_bytes
from procs import free_port, stop_group

from clipvec.model.shapes import SHAPES_MODEL

REPO = Path(__file__).resolve().parents[2]
BENTOML = Path(sys.executable).with_name("bentoml")
REFUSAL = (
    "has model_type 'blip' in its config.json; clipvec supports only these model families today: clip (CLIP"
)


@pytest.fixture
def start(tmp_path) -> Path:
    """An empty folder to run in, with a blip-labelled checkpoint and an images folder beside it."""
    model = tmp_path / "blip-model"
    shutil.copytree(SHAPES_MODEL, model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "model_type": "blip"}))
    (model / "model.safetensors").write_bytes(b"\xff" * 64)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(jpeg_bytes())
    folder = tmp_path / "start"
    folder.mkdir()
    return folder


def env_for(start: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPVEC_")}
    return {
        **env,
        "HF_HUB_OFFLINE": "1",
        "BENTOML_DO_NOT_TRACK": "True",
        "CLIPVEC_MODEL": str(start.parent / "blip-model"),
        "CLIPVEC_MILVUS_URI": str(start / "milvus.db"),
        **extra,
    }


ENTRY_POINTS = {
    "clipvec import": ["-m", "clipvec", "import", "../images"],
    "clipvec import --ray": ["-m", "clipvec", "import", "../images", "--ray", "local"],
    "python3 milvus_import.py": [str(REPO / "milvus_import.py"), "../images"],
    "clipvec search": ["-m", "clipvec", "search", "a red circle"],
    "clipvec search --image": ["-m", "clipvec", "search", "--image", "../images/a.jpg"],
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_another_family_is_one_line_and_exit_2(start, entry):
    result = subprocess.run(
        [sys.executable, *ENTRY_POINTS[entry]],
        cwd=start,
        env=env_for(start),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("clipvec: the model "), result.stderr[-3000:]
    assert REFUSAL in lines[0]
    assert result.stdout == ""
    assert not any(start.iterdir()), "a refused run created files"


def test_the_refusal_comes_before_torch(start):
    """In one process: the CLI's import and search return 2 without importing torch or transformers."""
    probe = (
        "import sys\n"
        "from clipvec.cli.main import main\n"
        "codes = [main(['import', '../images']), main(['search', 'a dog'])]\n"
        "print(codes, sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=start,
        env=env_for(start),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip() == "[2, 2] []", result.stdout + result.stderr[-3000:]
    assert result.stderr.count(REFUSAL) == 2


def test_bentoml_serve_stops_at_once_with_the_refusal(start):
    """The original ``bentoml serve service:vectorization``: the one message, exit 2, no worker starts."""
    cmd = [str(BENTOML), "serve", "service:vectorization", "--working-dir", str(REPO)]
    cmd += ["--port", str(free_port()), "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        cmd,
        cwd=start,
        env=env_for(start),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        stop_group(proc, timeout=30)  # type: ignore[arg-type]
        out, err = proc.communicate()
        pytest.fail(f"bentoml serve was still running after 120 s:\n{(out + err)[-3000:]}")
    output = out + err
    assert proc.returncode == 2, output[-3000:]
    assert output.count(REFUSAL) == 1, output[-3000:]
    assert "Traceback" not in output and "safetensors" not in output
    assert not any(start.iterdir()), "a refused start created files"
