"""The command line as a newcomer meets it (issues 10, 22): quiet, honest, its data in one place,
its settings remembered (clipvec.toml), its advice runnable as printed."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cli_scenes import ARITHMETIC_ARGS, draw_circles_and_squares

from clipvec.model.shapes import HELD_OUT_SEED_START, SHAPES_MODEL, draw_shape

REPO = Path(__file__).resolve().parents[2]


def clipvec(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, **kwargs
) -> subprocess.CompletedProcess[str]:
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPVEC_")}
        env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "clipvec", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        **kwargs,
    )


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
    # pics/ is not the images folder (./images): its files are stored by their absolute path
    pics = (tmp_path / "pics").resolve()
    assert found.returncode == 0 and f"ID: {pics}/red.png, Score: " in found.stdout, found.stderr
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
    (venv / ".installed-run").touch()

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


# --------------------------------------------------------------------------- issue 22: a setting that sticks
def newcomer_env(**extra: str) -> dict[str, str]:
    """No CLIPVEC_*, offline, and a shell whose PATH lacks the venv (it is not activated)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPVEC_")}
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    return {**env, "HF_HUB_OFFLINE": "1", **extra}


def script(name: str, args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The original scripts, run as the README shows: python3 milvus_import.py (here by its path)."""
    return subprocess.run(
        [sys.executable, str(REPO / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_first_run_advice_runs_as_printed_and_the_original_scripts_then_use_the_model(tmp_path):
    """The ways out name a clipvec that runs from here; `init` writes clipvec.toml, which the
    original milvus_import.py and milvus_search.py then read with no CLIPVEC_MODEL set."""
    env = newcomer_env()
    draw_shape("red", "circle", size=64, seed=HELD_OUT_SEED_START + 1).save(
        (tmp_path / "images").mkdir() or tmp_path / "images" / "red.png"
    )
    stopped = clipvec(["serve"], tmp_path, env=env)  # make run's first message (no model offline)
    assert stopped.returncode == 2, stopped.stderr
    way_out = next(line for line in stopped.stderr.splitlines() if "searches shapes" in line)
    command = way_out.split(":", 1)[1].split("&& make run")[0].strip()
    assert command.endswith(f"init --model {SHAPES_MODEL}"), way_out
    ran = subprocess.run(
        command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, f"{command!r} does not run as printed:\n{ran.stderr}"
    assert (tmp_path / "clipvec.toml").is_file()

    imported = script("milvus_import.py", ["--no-progress"], tmp_path, env)
    assert imported.returncode == 0, imported.stderr
    assert "imported 1," in imported.stdout
    found = script("milvus_search.py", ["a red circle", "--top-k", "1"], tmp_path, env)
    assert found.returncode == 0 and "ID: red.png, Score: " in found.stdout, found.stderr
    config = clipvec(["config"], tmp_path, env=env)
    assert f'model = "{SHAPES_MODEL}"' in config.stdout and "# clipvec.toml" in config.stdout


def test_an_unreachable_hub_fails_in_seconds_with_make_runs_message(tmp_path):
    """Online settings (no HF_HUB_OFFLINE) and no hub: one refused connection, then the message.

    Before, the hub libraries retried for ~30 s, warning of each retry twice: no "Retry" now.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    env = newcomer_env(HF_ENDPOINT=f"http://127.0.0.1:{closed}", HF_HOME=str(tmp_path / "hf-home"))
    env.pop("HF_HUB_OFFLINE")
    env.pop("TRANSFORMERS_OFFLINE", None)
    draw_shape("red", "circle", size=64, seed=HELD_OUT_SEED_START + 2).save(
        (tmp_path / "images").mkdir() or tmp_path / "images" / "red.png"
    )
    imported = script("milvus_import.py", ["--no-progress"], tmp_path, env)
    assert imported.returncode == 2, imported.stderr
    assert imported.stderr.count("cannot load the CLIP model") == 1
    assert "the hub cannot be reached" in imported.stderr and "Retry" not in imported.stderr
    served = clipvec(["serve"], tmp_path, env=env)
    assert served.returncode == 2
    assert served.stderr == imported.stderr  # the same message as make run


def test_a_second_folder_says_what_it_adds_to_and_every_hit_is_a_file(tmp_path):
    """`clipvec import ~/Pictures` beside ./images (issue 22.4): told, kept apart, both found."""
    for folder, color in (("images", "red"), ("pics", "blue")):
        (tmp_path / folder).mkdir()
        draw_shape(color, "circle", size=64, seed=HELD_OUT_SEED_START + 7).save(tmp_path / folder / "c.png")
    model = ["--model", str(SHAPES_MODEL)]
    first = clipvec(["import", "--no-progress", *model], tmp_path)  # the images folder
    assert first.returncode == 0 and "imported 1," in first.stdout, first.stderr
    second = clipvec(["import", "pics", "--no-progress", *model], tmp_path)
    pics = (tmp_path / "pics").resolve()
    assert second.returncode == 0 and "imported 1," in second.stdout, second.stderr
    assert (
        f"adding {pics} to collection 'images' (1 images), which also holds images from images;"
        in second.stderr
    )
    again = clipvec(["import", "--no-progress", "--prune", *model], tmp_path)  # prunes nothing of pics
    assert "unchanged 1," in again.stdout and "pruned 0" in again.stdout, again.stdout
    assert f"adding {tmp_path.resolve() / 'images'} to collection 'images'" in again.stderr
    found = clipvec(["search", "a circle", "--paths", *model], tmp_path)
    assert found.returncode == 0, found.stderr
    assert sorted(found.stdout.splitlines()) == sorted(
        [str(pics / "c.png"), str(tmp_path.resolve() / "images" / "c.png")]
    )


def base_python() -> str:
    """The interpreter the venv was made from: the user's plain ``python3``, without clipvec."""
    found = Path(sys.base_prefix) / "bin" / "python3"
    probe = subprocess.run([str(found), "-c", "import clipvec"], capture_output=True, env=no_pythonpath())
    if probe.returncode == 0:
        pytest.skip(f"{found} has clipvec installed: it is not a plain python3")
    return str(found)


def no_pythonpath() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("CLIPVEC_")}


def test_the_seed_scripts_run_with_a_plain_python3_after_make_run(tmp_path):
    """`python3 milvus_search.py` as the seed's README writes it, not inside the venv (issue 22)."""
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv in the checkout (make run / make test make it)")
    shown = subprocess.run(
        [base_python(), str(REPO / "milvus_search.py"), "--help"],
        cwd=tmp_path,
        env=no_pythonpath(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0 and "usage: clipvec search" in shown.stdout, shown.stderr


def test_the_seed_scripts_say_what_to_do_without_a_venv(tmp_path):
    for name in ("milvus_import.py", "_use_venv.py"):
        (tmp_path / name).write_bytes((REPO / name).read_bytes())
    told = subprocess.run(
        [base_python(), "milvus_import.py"],
        cwd=tmp_path,
        env=no_pythonpath(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert told.returncode == 2 and "Traceback" not in told.stderr
    assert (
        told.stderr.startswith("milvus_import.py: clipvec is not installed for ")
        and "make run" in told.stderr
    )


def test_query_arithmetic_on_the_command_line(tmp_path):
    """`clipvec search "a red circle" --minus "a red square" --plus "a blue square"` (issue 17.5).

    ``--like``/``--unlike`` and the refusals: tests/unit/cli/test_search_parts.py, in this process.
    """
    draw_circles_and_squares(tmp_path / "images")
    model = ["--model", str(SHAPES_MODEL)]
    assert clipvec(["import", "--no-progress", *model], tmp_path).returncode == 0
    moved = clipvec(["search", *ARITHMETIC_ARGS, "--json", *model], tmp_path)
    assert moved.returncode == 0, moved.stderr
    assert [h["path"].rsplit("_", 1)[0] for h in json.loads(moved.stdout)["hits"]] == ["blue_circle"] * 2
