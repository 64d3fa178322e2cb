"""``clipvec serve``: ``bentoml serve`` exec'd with the settings in its environment, paths absolute.

``os.execvpe`` is replaced by a recorder: what BentoML would be started with is checked,
nothing is started. A model that cannot load stops before the exec (exit 2).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

import clipvec
from clipvec import cli
from clipvec.cli import serve_cmd
from clipvec.model.family import supported
from clipvec.model.shapes import SHAPES_MODEL
from clipvec.shell import shown_command


@pytest.fixture
def exec_seen(monkeypatch) -> dict[str, object]:
    seen: dict[str, object] = {}

    def fake_exec(file: str, cmd: list[str], env: dict[str, str]) -> None:
        seen.update(file=file, cmd=cmd, env=env)

    monkeypatch.setattr(serve_cmd.os, "execvpe", fake_exec)
    return seen


def test_clipvec_serve_hands_absolute_paths_to_bentoml(monkeypatch, tmp_path):
    """Twin of the test of the same name in tests/e2e/test_newcomer_cli.py (already in-process there)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLIPVEC_MILVUS_URI", "./milvus.db")
    monkeypatch.setenv("CLIPVEC_IMAGES_DIR", "images")
    monkeypatch.delenv("CLIPVEC_THUMB_DIR", raising=False)
    monkeypatch.setenv("CLIPVEC_MODEL", str(SHAPES_MODEL))
    seen: dict[str, object] = {}

    def fake_exec(file: str, cmd: list[str], env: dict[str, str]) -> None:
        seen.update(cmd=cmd, env=env)

    monkeypatch.setattr(serve_cmd.os, "execvpe", fake_exec)
    cli.main(["serve", "--port", "3999"])
    env = seen["env"]
    assert env["CLIPVEC_MILVUS_URI"] == str(tmp_path / "milvus.db")
    assert env["CLIPVEC_IMAGES_DIR"] == str(tmp_path / "images")
    cmd = seen["cmd"]
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"  # this machine only, unless --host says otherwise


def test_the_bentoml_command_line(run_cli, exec_seen, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("serve", "--model", SHAPES_MODEL, "--host", "0.0.0.0", "--port", "8080")
    assert result.code == 0 and result.out == ""
    assert (
        result.err
        == f"clipvec: tip: `{shown_command()} init --model {SHAPES_MODEL}` keeps this model for every command run in this folder (clipvec.toml)\n"
    )
    src = Path(clipvec.__file__).resolve().parents[1]
    assert exec_seen["file"] == sys.executable
    assert exec_seen["cmd"] == [
        sys.executable,
        *("-m", "bentoml", "serve", "clipvec.serving.service:vectorization"),
        *("--host", "0.0.0.0", "--port", "8080", "--working-dir", str(src)),
    ]
    assert list(tmp_path.iterdir()) == []  # serving creates its data later, in BentoML


def test_every_setting_and_flag_reaches_the_workers(run_cli, exec_seen, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLIPVEC_API_KEY", "sekret")
    monkeypatch.setenv("CLIPVEC_TOP_K", "7")
    monkeypatch.setenv("PATH_LIKE_OTHER", "kept")
    model = tmp_path / "models" / "shapes"
    shutil.copytree(SHAPES_MODEL, model)
    result = run_cli(
        "serve",
        *("--model", "models/shapes", "--collection", "photos", "--metric", "L2"),
        *("--milvus-uri", "http://127.0.0.1:19530", "--batch-size", "4"),
    )
    assert result.code == 0, result.err
    env = exec_seen["env"]
    assert env["CLIPVEC_MODEL"] == str(model)  # made absolute (the workers run elsewhere)
    assert env["CLIPVEC_COLLECTION"] == "photos" and env["CLIPVEC_METRIC"] == "L2"
    assert env["CLIPVEC_MILVUS_URI"] == "http://127.0.0.1:19530"  # a server is left alone
    assert env["CLIPVEC_BATCH_SIZE"] == "4" and env["CLIPVEC_TOP_K"] == "7"
    assert env["CLIPVEC_API_KEY"] == "sekret"  # the service needs it; only `config` hides it
    assert env["PATH_LIKE_OTHER"] == "kept"
    assert {f"CLIPVEC_{field.upper()}" for field in serve_cmd.Settings.model_fields} <= set(env)


def test_a_model_that_cannot_load_stops_before_bentoml(run_cli, tmp_path, monkeypatch):
    def must_not_exec(*args):
        raise AssertionError("BentoML was started")

    monkeypatch.setattr(serve_cmd.os, "execvpe", must_not_exec)
    monkeypatch.chdir(tmp_path)
    result = run_cli("serve", "--model", "./no-such-model")
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("clipvec: cannot load the CLIP model"), result.err
    assert "'./no-such-model': there is no folder no-such-model." in result.err
    assert list(tmp_path.iterdir()) == []


def test_another_model_family_stops_before_bentoml_in_one_line(run_cli, tmp_path, monkeypatch):
    """Issue 18.1: a checkpoint whose config.json names another family, weights corrupt."""
    monkeypatch.setattr(serve_cmd.os, "execvpe", lambda *args: pytest.fail("BentoML was started"))
    model = tmp_path / "blip"
    shutil.copytree(SHAPES_MODEL, model)
    config = (model / "config.json").read_text().replace('"model_type": "clip"', '"model_type": "blip"')
    (model / "config.json").write_text(config)
    (model / "model.safetensors").write_bytes(b"\xff" * 64)
    start = tmp_path / "start"
    start.mkdir()
    monkeypatch.chdir(start)
    result = run_cli("serve", "--model", str(model))
    assert result.code == 2 and result.out == ""
    assert result.err == (
        f"clipvec: the model {model} has model_type 'blip' in its config.json; "
        f"clipvec supports only these model families today: {supported()}\n"
    )
    assert list(start.iterdir()) == []


def test_the_newcomer_default_model_offline_stops_before_bentoml(run_cli, tmp_path, monkeypatch):
    """No CLIPVEC_MODEL, offline, not in the hub cache: one message with the ways out.

    In-process twin of tests/e2e/test_first_run.py::test_no_model_stops_at_once_with_one_message
    ["clipvec serve"] (here with an empty hub cache of its own, so a cached copy cannot hide it).
    """
    from hub_cache import use_empty_hub_cache

    use_empty_hub_cache(monkeypatch, tmp_path)
    monkeypatch.setattr(serve_cmd.os, "execvpe", lambda *a: pytest.fail("BentoML was started"))
    start = tmp_path / "start"
    start.mkdir()
    monkeypatch.chdir(start)
    result = run_cli("serve")
    assert result.code == 2 and result.out == ""
    assert result.err.count("cannot load the CLIP model") == 1
    assert "'openai/clip-vit-base-patch32'" in result.err and "HF_HUB_OFFLINE" in result.err
    assert "init --model /path/to/clip-vit-base-patch32 && make run" in result.err
    assert (
        "clipvec make-model ./random-clip && " in result.err
        and "init --model ./random-clip && make run" in result.err
    )
    assert "tests/assets/shapes-clip && make run" in result.err
    assert "Traceback" not in result.err and "Initializing service error" not in result.err
    assert list(start.iterdir()) == []


def test_several_workers_on_a_lite_file_stop_before_bentoml(run_cli, exec_seen, tmp_path, monkeypatch):
    """Issue 21 item 8; checked again in BentoML's main process (tests/unit/serving/test_startup.py)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLIPVEC_WORKERS", "2")
    result = run_cli("serve", "--model", SHAPES_MODEL, "--milvus-uri", "./milvus.db")
    assert result.code == 2 and result.out == "" and exec_seen == {}
    assert result.err.count("clipvec: ") == 1
    assert "CLIPVEC_WORKERS=2 cannot share the Milvus Lite file ./milvus.db" in result.err
    assert not any(tmp_path.iterdir())
