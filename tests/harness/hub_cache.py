"""A Hugging Face hub cache of the test's own: hub ids without the network or the user's cache.

``use_empty_hub_cache`` points HF_HOME (for child processes) and huggingface_hub's constants
(read once at its import, so setting the variable alone does not reach this process) at a
fresh folder; ``cache_hub_model`` lays a checkpoint folder out in it as the hub would.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def use_empty_hub_cache(monkeypatch: pytest.MonkeyPatch, folder: Path) -> Path:
    """Make ``folder/hf-home`` this test's HF_HOME; returns its (empty) hub cache."""
    from huggingface_hub import constants

    home = folder / "hf-home"
    cache = home / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def cache_hub_model(cache: Path, repo_id: str, files: Path) -> Path:
    """Put a copy of the checkpoint folder ``files`` in ``cache`` as the hub's ``repo_id`` at main.

    Returns the snapshot folder, where the hub's client finds the files offline.
    """
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / COMMIT
    shutil.copytree(files, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return snapshot
