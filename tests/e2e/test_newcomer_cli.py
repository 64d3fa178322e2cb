"""The command line as a newcomer meets it (issue 10): quiet, honest, and its data in one place."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from clipvec import cli
from clipvec.cli import serve_cmd
from clipvec.model.shapes import HELD_OUT_SEED_START, SHAPES_MODEL, draw_shape
from clipvec.settings import Settings, absolute_path_env

REPO = Path(__file__).resolve().parents[2]


def clipvec(args: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPVEC_")}
    return subprocess.run(
        [sys.executable, "-m", "clipvec", *args],
        cwd=cwd,
        env={**env, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=180,
        **kwargs,
    )


def test_help_is_prose_with_first_steps():
    text = cli.build_parser().format_help()
    assert "``" not in text and "(also" not in text
    assert "Search your own images by meaning" in text
    assert "clipvec demo" in text and "clipvec import ~/Pictures" in text


def test_config_shows_effective_values_and_hides_secrets(monkeypatch, capsys):
    for name in ("CLIPVEC_DEVICE", "CLIPVEC_PRECISION", "CLIPVEC_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLIPVEC_MILVUS_TOKEN", "root:hunter2")
    monkeypatch.setenv("CLIPVEC_API_KEY", "sekret-api-key")
    assert cli.main(["config"]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert shown["device"] in ("cpu", "cuda") or shown["device"].startswith("cuda:")
    assert shown["precision"] in ("fp32", "bf16", "fp16")
    assert shown["threads"] >= 1 and shown["decode_workers"] >= 1
    assert "hunter2" not in out and "sekret-api-key" not in out
    assert shown["milvus_token"] == "*** (set, hidden)"
    assert Path(shown["milvus_uri"]).is_absolute() and Path(shown["images_dir"]).is_absolute()


def test_clipvec_serve_hands_absolute_paths_to_bentoml(monkeypatch, tmp_path):
    """``clipvec serve`` used to run BentoML in src/, where ./milvus.db was another database."""
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


def test_absolute_path_env_leaves_servers_and_hub_ids_alone(tmp_path):
    (tmp_path / "models" / "clip").mkdir(parents=True)
    settings = Settings(
        milvus_uri="http://127.0.0.1:19530", model="openai/clip-vit-base-patch32", images_dir="/srv/images"
    )
    assert absolute_path_env(settings, tmp_path) == {}
    local = Settings(milvus_uri="data/x.db", model="models/clip", images_dir="pics", thumb_dir="~/thumbs")
    env = absolute_path_env(local, tmp_path)
    assert env["CLIPVEC_MILVUS_URI"] == str(tmp_path / "data" / "x.db")
    assert env["CLIPVEC_MODEL"] == str(tmp_path / "models" / "clip")
    assert env["CLIPVEC_IMAGES_DIR"] == str(tmp_path / "pics")
    assert "CLIPVEC_THUMB_DIR" not in env  # ~ is absolute already


def test_search_against_a_missing_database_says_so_and_creates_nothing(tmp_path):
    result = clipvec(["search", "a dog"], tmp_path)
    assert result.returncode == 1
    assert f"there is no database at {tmp_path / 'milvus.db'}" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_model_loading_is_quiet(tmp_path):
    quiet = clipvec(["vectorize", "--text", "a red circle", "--model", str(SHAPES_MODEL)], tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert json.loads(quiet.stdout)["dim"] == 64


def test_import_and_search_are_quiet(tmp_path):
    """Only our own lines: no library notices (milvus-lite's pkg_resources warning) without -v."""
    (tmp_path / "pics").mkdir()
    draw_shape("red", "circle", size=64, seed=HELD_OUT_SEED_START).save(tmp_path / "pics" / "red.png")
    model = ["--model", str(SHAPES_MODEL)]
    imported = clipvec(["import", "pics", "--no-progress", *model], tmp_path)
    assert imported.returncode == 0 and "imported 1," in imported.stdout, imported.stderr
    assert imported.stderr == ""
    found = clipvec(["search", "a red circle", *model], tmp_path)
    assert found.returncode == 0 and "ID: red.png, Score: " in found.stdout, found.stderr
    assert found.stderr == ""


def test_make_model_is_quiet_and_readable_by_the_group(tmp_path):
    made = clipvec(["make-model", "--size", "tiny", "clip"], tmp_path, preexec_fn=lambda: os.umask(0o022))
    assert made.returncode == 0, made.stderr
    assert "torchvision" not in made.stderr and "Writing model shards" not in made.stderr
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "clip").iterdir()}
    assert modes["model.safetensors"] == 0o644, modes
    assert set(modes.values()) == {0o644}


def test_make_run_binds_this_machine_only_unless_told(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    (venv / ".installed").touch()

    def dry_run(*extra: str) -> str:
        made = subprocess.run(
            ["make", "-n", "-s", "-C", str(REPO), "run", f"VENV={venv}", *extra],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        return made.stdout

    assert "serve --host 127.0.0.1 --port 3000" in dry_run()
    assert "serve --host 0.0.0.0 --port 8080" in dry_run("HOST=0.0.0.0", "PORT=8080")
