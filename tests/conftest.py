"""Shared fixtures: offline models built locally, never from the hub."""

from __future__ import annotations

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

# Milvus Lite and the real Milvus 2.3.5 server for storage, import, service and page tests.
pytest_plugins = ["milvus_fixtures"]

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE = REPO_ROOT / ".test-cache"
TEST_OUTPUT = REPO_ROOT / "test-output"


def _cached_model(name: str, size: str) -> Path:
    from clipvec.model_factory import make_random_model

    folder = CACHE / "models" / name
    if not (folder / "model.safetensors").exists():
        tmp = folder.with_name(name + ".partial")
        make_random_model(tmp, size=size, seed=0)  # type: ignore[arg-type]
        tmp.rename(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """Random tiny CLIP (224px in, 512-d out) with the real OpenAI tokenizer."""
    return _cached_model("tiny-random-clip", "tiny")


@pytest.fixture(scope="session")
def base_model_dir() -> Path:
    """Random full-size ViT-B/32: the real architecture and speed, no meaning."""
    return _cached_model("vit-b-32-random", "base")


@pytest.fixture(scope="session")
def test_output() -> Path:
    TEST_OUTPUT.mkdir(exist_ok=True)
    return TEST_OUTPUT
