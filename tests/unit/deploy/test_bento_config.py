"""The bento installs every runtime dependency: its package list is pyproject.toml's (issue 22).

A separate list in bentofile.yaml once lacked imagecodecs, s3fs and setuptools<81, so the
container could not read float TIFFs, S3 sources, or open Milvus Lite. The build config is
read the way `bentoml build` reads it (BentoML's own loader, its own file order).
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # BentoML depends on tomli there
    import tomli as tomllib

from bentoml._internal.bento.bento import DEFAULT_BENTO_BUILD_FILES
from bentoml._internal.bento.build_config import BentoBuildConfig

REPO = Path(__file__).resolve().parents[3]
# What the bento adds to pyproject's dependencies on purpose: the CPU torch build (README, "Container").
BENTO_ONLY = ["torch==2.13.0"]


def build_config() -> BentoBuildConfig:
    """The config `bentoml build` uses in the repository root: the first of its build files there."""
    for name in DEFAULT_BENTO_BUILD_FILES:
        if (REPO / name).is_file():
            return BentoBuildConfig.from_file(str(REPO / name))
    raise AssertionError(f"none of {DEFAULT_BENTO_BUILD_FILES} in {REPO}")


def runtime_dependencies() -> list[str]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]


def test_the_bento_packages_are_pyprojects_runtime_dependencies():
    assert build_config().python.packages == [*BENTO_ONLY, *runtime_dependencies()]


def test_the_bento_is_the_documented_one():
    config = build_config()
    assert (config.name, config.service) == ("clip_image_vectorizer", "service:vectorization")
    assert config.python.lock_packages is False  # builds offline (a lock would resolve against PyPI)
    # the sources stay below src/ in the bento, where the container's PYTHONPATH points
    assert config.python.is_src_layout is False
    assert {env.name: env.value for env in config.envs}["PYTHONPATH"] == "/home/bentoml/bento/src/src"
