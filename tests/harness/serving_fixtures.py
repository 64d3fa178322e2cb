"""Pytest plugin: serving cores for the in-process serving tests (tests/unit/serving).

Registered in ``tests/conftest.py`` (a conftest in a sub-folder would shadow the others).
The tiny model is loaded once per session; each test module that asks for ``serving_core``
gets its own ``ServingCore`` with a real Milvus Lite file and images folder under its own
tmp folder, closed (Lite helper stopped, lock released) when the module is done.
``unreachable_core`` is the same core with a Milvus server URI nobody listens on, for the
"store cannot be used" answers (a real cause: the connection is refused).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from payloads import jpeg_bytes, png_bytes  # noqa: F401 - the fixtures' callers import them from here too
from procs import free_port

if TYPE_CHECKING:  # imported when first used: every pytest run loads this plugin, few need torch
    from clipvec.model.encoder import ClipEncoder
    from clipvec.serving.core import ServingCore
    from clipvec.settings import Settings


def serving_settings(base: Path, model: str | Path, **overrides: Any) -> Settings:
    """Settings of a test core: fp32 on the CPU (batch and single answers compare exactly), all under ``base``."""
    from clipvec.settings import Settings

    values: dict[str, Any] = {
        "model": str(model),
        "milvus_uri": str(base / "m.db"),
        "images_dir": str(base / "images"),
        "thumb_dir": "",  # the default: images_dir/.thumbs
        "precision": "fp32",
        "device": "cpu",
        "api_key": "",
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.contextmanager
def open_core(encoder: ClipEncoder, model: str | Path, base: Path, **overrides: Any) -> Iterator[ServingCore]:
    """A ``ServingCore`` on ``encoder`` with its store and images under ``base``; closed afterwards."""
    from clipvec.serving.core import ServingCore

    core = ServingCore(serving_settings(base, model, **overrides), encoder)
    try:
        yield core
    finally:
        core.close()


def unreachable_uri() -> str:
    """A Milvus server URI on a loopback port nothing listens on (the connection is refused)."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def serving_encoder(tiny_model_dir: Path) -> ClipEncoder:
    """The tiny random CLIP, loaded once for every serving test (fp32, CPU)."""
    from clipvec.model.encoder import ClipEncoder

    return ClipEncoder.load(str(tiny_model_dir), device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def serving_core(
    serving_encoder: ClipEncoder, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServingCore]:
    """One core per test module: a Lite file and an images folder of its own."""
    with open_core(serving_encoder, tiny_model_dir, tmp_path_factory.mktemp("serving")) as core:
        yield core


@pytest.fixture(scope="module")
def unreachable_core(
    serving_encoder: ClipEncoder, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServingCore]:
    """A core whose Milvus server cannot be reached (1 s store timeout); its images folder is real."""
    base = tmp_path_factory.mktemp("serving-unreachable")
    with open_core(
        serving_encoder, tiny_model_dir, base, milvus_uri=unreachable_uri(), store_timeout=1.0
    ) as core:
        yield core
