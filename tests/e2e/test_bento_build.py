"""The documented container path: `bentoml build`, then `bentoml containerize` (needs Docker)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # BentoML depends on tomli there
    import tomli as tomllib

import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]


def bentoml(args: list[str], home: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("bentoml")
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True"}
    return subprocess.run(
        [str(exe), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_build_then_containerize(tmp_path):
    built = bentoml(["build"], tmp_path)
    assert built.returncode == 0, built.stderr[-2000:]
    [bento] = list((tmp_path / "bentos" / "clip_image_vectorizer").glob("*/bento.yaml"))
    spec = yaml.safe_load(bento.read_text())
    assert spec["name"] == "clip_image_vectorizer" and spec["service"] == "service:vectorization"
    routes = {r["route"] for r in spec["schema"]["routes"]}
    assert {"/vectorize_text", "/vectorize_image", "/vectorize_texts", "/vectorize_images"} <= routes
    src = bento.parent / "src"
    assert (src / "service.py").is_file()
    assert (src / "src" / "clipvec" / "assets" / "bpe_simple_vocab_16e6.txt.gz").is_file()
    assert (src / "src" / "clipvec" / "ui" / "index.html").is_file()
    assert not (src / "tests").exists() and not (src / ".venv").exists()
    # the container installs every runtime dependency: the CPU torch pin, then pyproject's list
    requirements = (bento.parent / "env" / "python" / "requirements.txt").read_text().splitlines()
    packages = [line for line in requirements if line and not line.startswith(("#", "-"))]
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    # BentoML rewrites each requirement (quotes, order of specifiers) and pins its own version last
    assert [Requirement(p) for p in packages] == [
        Requirement(r) for r in ["torch==2.13.0", *dependencies, f"bentoml=={version('bentoml')}"]
    ]
    assert {"imagecodecs>=2024.1", "s3fs>=2024.6", "setuptools>=68,<81"} <= set(packages)

    # Without a Docker engine, containerize must fail cleanly (a message, no traceback).
    docker_up = (
        subprocess.run(["docker", "info"], capture_output=True).returncode == 0 if _has_docker() else False
    )
    if not docker_up:
        result = bentoml(["containerize", "clip_image_vectorizer:latest", "-t", "bentoml:latest"], tmp_path)
        assert result.returncode != 0
        assert "docker" in (result.stdout + result.stderr).lower()
        assert "Traceback" not in result.stderr


def _has_docker() -> bool:
    from shutil import which

    return which("docker") is not None
