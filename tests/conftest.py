"""Shared fixtures: offline models built locally, never from the hub."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# The launchers (Milvus, S3, Ray, the service, the stack) and test inputs live in tests/harness.
sys.path.insert(0, str(Path(__file__).resolve().parent / "harness"))

import pytest  # noqa: E402
import session_temp  # noqa: E402
from milvus_server import SERVER_ID_DIR  # noqa: E402
from tree_state import tree_changes, tree_state  # noqa: E402

# Milvus Lite and the real Milvus 2.3.5 server for storage, import, service and page tests;
# serving cores (tiny model, Milvus Lite) for the in-process serving tests; shared real services.
pytest_plugins = ["milvus_fixtures", "store_fixtures", "s3_fixtures", "serving_fixtures", "service_factory"]

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE = REPO_ROOT / ".test-cache"
# Hypothesis keeps caches (its example database, the constants it mines) in ./.hypothesis by
# default: under the suite's own cache folder instead, which the tree check allows.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(CACHE / "hypothesis"))
TEST_OUTPUT = REPO_ROOT / "test-output"


@pytest.hookimpl(tryfirst=True)  # before pytest's tmpdir plugin reads --basetemp
def pytest_configure(config: pytest.Config) -> None:
    """The session's temp folder: pytest's tmp_path and TMPDIR of every process (session_temp.py)."""
    session_temp.enter(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    session_temp.leave(config)  # after every session fixture (servers, services) has stopped


def _cached_model(name: str, size: str, family: str = "clip") -> Path:
    from clipvec.model.factory import make_random_model

    folder = CACHE / "models" / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{name}.lock", "w") as lock:  # parallel workers build it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "model.safetensors").exists():
            tmp = folder.with_name(name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)  # left by a run killed while writing it
            make_random_model(tmp, size=size, seed=0, family=family)  # type: ignore[arg-type]
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


@pytest.fixture(scope="session")
def family_model_dir():
    """``family_model_dir(family, size)``: a random checkpoint of another family (issue 18), built once.

    ``tiny`` (seconds, for fast tests) or ``full`` (the released architecture, for slow tests).
    """

    def get(family: str, size: str = "tiny") -> Path:
        return _cached_model(f"{size}-random-{family}", size, family)

    return get


# --------------------------------------------------------------------------- a clean tree
TREE_CLEAN_TEST = "test_zz_tree_clean.py"
TREE_AT_START = tree_state()
MILVUS_ID_DIR_AT_START = SERVER_ID_DIR.exists()  # the servers' /tmp/milvus (milvus_server.py)


def _xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _xdist_controller(config: pytest.Config) -> bool:
    return not _xdist_worker(config) and bool(getattr(config.option, "numprocesses", None))


# The test files (groups) that take longest, longest first (`make test PYTEST_FLAGS=--durations=60`
# shows them). pytest-xdist hands a whole group to one worker as workers become free, in this
# order (the Makefile's --no-loadscope-reorder; by default it would start with the groups of
# most tests, unit files, and leave these few-test, several-minute files for the end). It deals
# the first two groups of each worker round-robin (with the Makefile's 4 workers: the first four
# start together, the next four follow them, each on one of the four workers, not always in
# the same order). Every file that took 15 s or more in the last measured run is listed, so that
# the run ends on small files and the workers finish together (a 35 s file dealt last had
# kept one worker busy 30 s after the others).
LONGEST_FIRST = (
    "stack",
    "family-full",  # the full-size family fidelity tests (test_family_fidelity.py): CPU, no waits
    "tests/e2e/test_import_resilience.py",
    "tests/e2e/test_cli_end_to_end.py",
    "tests/e2e/test_ray_import.py",  # second round: Ray starts when a first-round file is done
    "tests/e2e/test_newcomer_cli.py",
    "tests/integration/indexing/test_watch_folder.py",
    "tests/e2e/test_heavy_requests.py",
    "tests/integration/store/test_image_store.py",
    "tests/e2e/test_hardening.py",
    "tests/integration/indexing/test_migrate.py",
    "tests/e2e/test_import_processes.py",
    "tests/integration/indexing/test_import_roots.py",
    "tests/e2e/test_watch_cli.py",
    "tests/e2e/test_filters_cli.py",
    "tests/unit/model/test_runtimes.py",
    "tests/integration/search/test_filtered_search.py",
    "tests/integration/serving/test_core_search.py",
    "tests/e2e/test_data_safety_service.py",
    "tests/e2e/test_ui.py",
    "tests/e2e/test_cli_service.py",
    "tests/e2e/test_s3_service.py",
    "tests/e2e/test_migrate_cli.py",
    "tests/integration/indexing/test_import.py",
    "tests/e2e/test_first_run.py",
    "tests/unit/serving/test_service_app.py",
    "tests/integration/store/test_data_safety.py",
    "tests/e2e/test_replicas.py",
    "tests/e2e/test_import_model_failure.py",
    "tests/e2e/test_ray_local.py",
    "tests/integration/store/test_store_names.py",
    "tests/e2e/test_duplicates_cli.py",
    "tests/integration/sources/test_s3_import.py",
    "tests/integration/indexing/test_import_reads.py",
    "tests/e2e/test_hostile_connections.py",
    "tests/e2e/test_web_paths.py",
    "tests/e2e/test_runtime_service.py",
    "tests/integration/indexing/test_import_meta.py",
    "tests/e2e/test_watch_service_state.py",
)


def _start_rank(item: pytest.Item) -> int:
    marker = item.get_closest_marker("xdist_group")
    group = marker.args[0] if marker and marker.args else ""
    return LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tree-clean check runs after every other test, whatever order they were given in.

    With pytest-xdist (``make test-fast``) no worker can know that every other one is done:
    the controller checks the tree at the end of the session instead (``pytest_sessionfinish``).
    """
    for (
        item
    ) in items:  # pytest-xdist --dist loadgroup: a test file runs in one process, the stack's files in one
        if not item.get_closest_marker("xdist_group"):
            group = "stack" if item.get_closest_marker("stack") else item.nodeid.split("::")[0]
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=_start_rank)  # stable: the longest groups first, the rest as collected
    last = [item for item in items if item.nodeid.split("::")[0].endswith(TREE_CLEAN_TEST)]
    if not last:
        return
    items[:] = [item for item in items if item not in last]
    if _xdist_worker(config):
        config.hook.pytest_deselected(items=last)
    else:
        items.extend(last)


LOST_GROUPS: list[str] = []  # set on an xdist worker whose test groups were lost (below)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Notice when ``--dist loadgroup`` lost the groups set above.

    pytest 9.2 with pytest-xdist 3.8 did, silently: each test went to any worker, so every
    worker started its own Milvus server, full stack, services and Ray cluster, the suite
    took 20 minutes on two cores and a Ray node timed out starting under that load.
    """
    config = session.config
    if _xdist_worker(config) and config.getvalue("loadgroup"):
        ungrouped = [item.nodeid for item in session.items if "@" not in item.nodeid]
        if ungrouped:
            LOST_GROUPS.append(
                f"pytest-xdist --dist loadgroup did not group {len(ungrouped)} tests (e.g. "
                f"{ungrouped[0]}) with pytest {pytest.__version__}: see the pytest pin in pyproject.toml"
            )


@pytest.fixture(autouse=True)
def _test_groups_kept() -> None:
    """Every test fails, with the reason, when its worker's groups were lost (a worker that
    raised instead would crash with xdist's internal error and no message)."""
    if LOST_GROUPS:
        pytest.fail(LOST_GROUPS[0], pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _xdist_worker(session.config):
        return
    if not MILVUS_ID_DIR_AT_START:  # the suite's servers made it; their files are gone with them
        with contextlib.suppress(OSError):  # not empty: a server that is not the suite's runs
            SERVER_ID_DIR.rmdir()
    if not _xdist_controller(session.config):
        return
    changes = tree_changes(TREE_AT_START, tree_state())
    if changes:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("the tests changed the working tree:\n" + "\n".join(changes), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def tree_at_start() -> dict[str, set[str]]:
    return TREE_AT_START


@pytest.fixture(scope="session")
def test_output() -> Path:
    TEST_OUTPUT.mkdir(exist_ok=True)
    return TEST_OUTPUT
