"""Shared fixtures: offline models built locally, never from the hub."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# The launchers (Milvus, S3, Ray, the service, the stack) and test inputs live in tests/harness.
sys.path.insert(0, str(Path(__file__).resolve().parent / "harness"))

import pytest  # noqa: E402

# Milvus Lite and the real Milvus 2.3.5 server for storage, import, service and page tests;
# serving cores (tiny model, Milvus Lite) for the in-process serving tests; shared real services.
pytest_plugins = ["milvus_fixtures", "store_fixtures", "s3_fixtures", "serving_fixtures", "service_factory"]

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE = REPO_ROOT / ".test-cache"
TEST_OUTPUT = REPO_ROOT / "test-output"


def _cached_model(name: str, size: str) -> Path:
    from clipvec.model.factory import make_random_model

    folder = CACHE / "models" / name
    if not (folder / "model.safetensors").exists():
        tmp = folder.with_name(name + ".partial")
        make_random_model(tmp, size=size, seed=0)  # type: ignore[arg-type]
        tmp.rename(folder)
    return folder


@pytest.fixture(scope="session", autouse=True)
def bentoml_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BentoML's home for this session's processes: never the user's ~/bentoml.

    ``tests/harness/service_process.py`` gives each service a home of its own (BentoML empties
    its home's Prometheus folder at every start: services beside each other would lose metrics).
    """
    home = tmp_path_factory.mktemp("bentoml-home")
    # Milvus Lite's server logs (glog) go to the system temp folder by default: a few files
    # per opened database. They go under this session's tmp folder instead.
    logs = tmp_path_factory.mktemp("milvus-lite-logs")
    previous = {key: os.environ.get(key) for key in ("BENTOML_HOME", "GLOG_log_dir")}
    os.environ.update(BENTOML_HOME=str(home), GLOG_log_dir=str(logs))
    yield home
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """Random tiny CLIP (224px in, 512-d out) with the real OpenAI tokenizer."""
    return _cached_model("tiny-random-clip", "tiny")


@pytest.fixture(scope="session")
def base_model_dir() -> Path:
    """Random full-size ViT-B/32: the real architecture and speed, no meaning."""
    return _cached_model("vit-b-32-random", "base")


# --------------------------------------------------------------------------- a clean tree
# Tests work under their own temporary folders. What they may leave in the repository:
# the venv, caches and test-output (all ignored by git). Anything else they add, to the
# tree or to the user's data (images/, milvus.db), fails tests/test_zz_tree_clean.py.
ALLOWED_LEFTOVERS = (
    ".venv",
    ".test-cache",
    "test-output",
    ".pytest_cache",
    ".ruff_cache",
    "**/__pycache__/**",
    "**/*.egg-info/**",
)
TREE_CLEAN_TEST = "test_zz_tree_clean.py"
TEMP_LITTER = ("milvus.", "clipvec-service-")


def _files_under(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {
        str(p.relative_to(REPO_ROOT))
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not any(x.endswith(".egg-info") for x in p.parts)
    }


def tree_state() -> dict[str, set[str]]:
    """What the suite must leave as it found it: files git does not ignore, the user's data, src/."""
    state: dict[str, set[str]] = {
        # what the suite's servers would leave in the system temp folder (Milvus Lite's logs, services' folders)
        "temp folder": {
            p.name for p in Path(tempfile.gettempdir()).iterdir() if p.name.startswith(TEMP_LITTER)
        },
        "images/": _files_under(REPO_ROOT / "images"),
        "src/": _files_under(REPO_ROOT / "src"),
        "*.db at the root": {
            f"{p.name} {p.stat().st_size} {p.stat().st_mtime_ns}" for p in REPO_ROOT.glob("*.db*")
        },
    }
    excludes = [f":(exclude,glob){pattern}" for pattern in ALLOWED_LEFTOVERS]
    try:
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all", "--ignored", "--", ".", *excludes],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        status = None
    if status is not None and status.returncode == 0:  # not a git checkout: the listings above still hold
        state["git status"] = set(status.stdout.splitlines())
    return state


TREE_AT_START = tree_state()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tree-clean check runs after every other test, whatever order they were given in."""
    last = [item for item in items if item.nodeid.split("::")[0].endswith(TREE_CLEAN_TEST)]
    if last:
        items[:] = [item for item in items if item not in last] + last


@pytest.fixture(scope="session")
def tree_at_start() -> dict[str, set[str]]:
    return TREE_AT_START


@pytest.fixture
def tree_now() -> dict[str, set[str]]:
    """The tree as it is now (a fixture: ``from conftest import`` may find a sub-folder's conftest)."""
    return tree_state()


@pytest.fixture(scope="session")
def test_output() -> Path:
    TEST_OUTPUT.mkdir(exist_ok=True)
    return TEST_OUTPUT
