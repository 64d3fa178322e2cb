"""Fixtures for the in-process CLI tests: ``clipvec.cli.main`` called as a function.

Every test starts without any ``CLIPVEC_*`` variable (the defaults a newcomer has), and
whatever ``main`` changes for the whole process (transformers' verbosity and bars, the
``clipvec`` and pymilvus loggers, the chatter switch, torch's thread count) is put back
afterwards, so that the other test folders see the process as they would without these tests.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clipvec.model.shapes import HELD_OUT_SEED_START, draw_shape

# Seeds of the drawn test images: far from the shapes model's training seeds and from the
# other test folders' seeds.
SEED = HELD_OUT_SEED_START + 800_000
_LOGGERS = ("clipvec", "pymilvus", "pymilvus.milvus_client")


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str


@contextlib.contextmanager
def _process_state_kept() -> Iterator[None]:
    """Puts back what ``main`` changes for the whole process (loggers, chatter, torch threads)."""
    import torch
    from transformers.utils import logging as transformers_logging

    from clipvec.model import chatter

    wanted = chatter._wanted
    verbosity = transformers_logging.get_verbosity()
    bars = transformers_logging.is_progress_bar_enabled()
    levels = {name: logging.getLogger(name).level for name in _LOGGERS}
    root_handlers = list(logging.getLogger().handlers)
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        chatter._wanted = wanted
        transformers_logging.set_verbosity(verbosity)
        if bars:
            transformers_logging.enable_progress_bar()
        else:
            transformers_logging.disable_progress_bar()
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        root = logging.getLogger()
        for handler in [h for h in root.handlers if h not in root_handlers]:
            root.removeHandler(handler)


@pytest.fixture(scope="module", autouse=True)
def _cli_module_state() -> Iterator[None]:
    """Also around a module's shared set-up (an import run once for the module)."""
    with _process_state_kept():
        yield


@pytest.fixture(autouse=True)
def _cli_test_state(monkeypatch) -> Iterator[None]:
    for name in [n for n in os.environ if n.startswith("CLIPVEC_")]:
        monkeypatch.delenv(name)
    with _process_state_kept():
        yield


@pytest.fixture
def run_cli(capsys) -> Callable[..., CliRun]:
    """``run_cli("search", "a dog")``: ``clipvec.cli.main`` in this process, its exit code and output."""
    from clipvec.cli import main

    def run(*argv: str) -> CliRun:
        capsys.readouterr()  # what came before is not this command's
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


@pytest.fixture
def imported_folder(tmp_path, monkeypatch, run_cli) -> Callable[[Path], Path]:
    """``imported_folder(images)``: the shapes model imports ``images`` (the images folder) into
    ``tmp_path/milvus.db``; the settings stay set for the test's commands."""
    from clipvec.model.shapes import SHAPES_MODEL

    def run(images: Path) -> Path:
        monkeypatch.setenv("CLIPVEC_MODEL", str(SHAPES_MODEL))
        monkeypatch.setenv("CLIPVEC_MILVUS_URI", str(tmp_path / "milvus.db"))
        monkeypatch.setenv("CLIPVEC_IMAGES_DIR", str(images))
        imported = run_cli("import", "--no-progress")
        assert imported.code == 0, imported.err
        return images

    return run


def draw_shapes(
    folder: Path, names: list[tuple[str, str]], *, size: int = 64, seed: int = SEED, by_color: bool = False
) -> list[Path]:
    """PNG images ``{color}_{shape}_{i}.png`` (in ``{color}/`` sub-folders when ``by_color``)."""
    paths = []
    for i, (color, shape) in enumerate(names):
        path = (folder / color if by_color else folder) / f"{color}_{shape}_{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        draw_shape(color, shape, size=size, seed=seed + i).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def shapes_drawer() -> Callable[..., list[Path]]:
    """``draw_shapes`` as a fixture (test modules cannot import from a conftest)."""
    return draw_shapes


@pytest.fixture
def no_model_load(monkeypatch) -> None:
    """Any attempt to load a CLIP model fails the test."""
    from clipvec.model.encoder import ClipEncoder

    def refuse(*args, **kwargs):
        raise AssertionError(f"a model was loaded: {args} {kwargs}")

    monkeypatch.setattr(ClipEncoder, "load", refuse)
