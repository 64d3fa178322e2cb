"""What the test suite must leave as it found it: the repository, the user's data, the system temp folder, the home folder's tool stores.

Tests work under their own temporary folders. What they may leave in the repository:
the venv, caches and test-output (all ignored by git). Anything else they add, to the
tree or to the user's data (images/, milvus.db), fails tests/test_zz_tree_clean.py (or,
under pytest-xdist, the end of the session: tests/conftest.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from milvus_server import leftover_server_ids
from session_temp import SYSTEM_TEMP

REPO_ROOT = Path(__file__).resolve().parents[2]
ALLOWED_LEFTOVERS = (
    ".venv",
    ".test-cache",
    "test-output",
    ".pytest_cache",
    ".ruff_cache",
    "**/__pycache__/**",
    "**/*.egg-info/**",
)
# What the suite's processes would leave in the system temp folder if they wrote outside the
# session's own temp folder (session_temp.py): Milvus Lite's logs and sockets, the services'
# folders, Ray clusters (tests/harness/ray_cluster.py, test_ray_local.py), BentoML's sockets,
# torch's compile cache, pytest's own tmp_path root, SeaweedFS's S3 socket (always /tmp unless
# told) and its log files.
TEMP_LITTER = (
    "milvus.",
    "clipvec-",
    "rc-",
    "rl-",
    "ray",
    "bentoml-",
    "torchinductor_",
    "pytest-of-",
    "seaweedfs-",
    "weed.",
)
TEMP_LITTER_SUFFIXES = ("_milvus.db.sock",)
# What the tools under test write to the user's home by default: Ray's auth token
# (~/.ray/auth_token, written by a new local Ray), BentoML's store (~/bentoml), clipvec's
# export cache (traces, exports, the weights' hashes) and thumbnails.
HOME_LITTER = (".ray", "bentoml", ".cache/clipvec/exports", ".cache/clipvec/thumbs")


def _files_under(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {
        str(p.relative_to(REPO_ROOT))
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not any(x.endswith(".egg-info") for x in p.parts)
    }


def _home_litter() -> set[str]:
    """The entries of HOME_LITTER in the home folder, one level down (cheap: ~/bentoml may be big)."""
    home = Path.home()
    found = set()
    for name in HOME_LITTER:
        folder = home / name
        if folder.is_dir():
            found |= {f"~/{name}/{p.name}" for p in folder.iterdir()} | {f"~/{name}/"}
    return found


def tree_state() -> dict[str, set[str]]:
    """What the suite must leave as it found it: files git does not ignore, the user's data, src/."""
    state: dict[str, set[str]] = {
        "temp folder": {
            p.name
            for p in SYSTEM_TEMP.iterdir()
            if p.name.startswith(TEMP_LITTER) or p.name.endswith(TEMP_LITTER_SUFFIXES)
        },
        "images/": _files_under(REPO_ROOT / "images"),
        "src/": _files_under(REPO_ROOT / "src"),
        "home folder": _home_litter(),
        "Milvus server ids": leftover_server_ids(),
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


def tree_changes(before: dict[str, set[str]], after: dict[str, set[str]]) -> list[str]:
    """What differs between two ``tree_state()`` snapshots, at most 20 lines per part."""
    changes = []
    for part in sorted(set(after) | set(before)):
        added = sorted(after.get(part, set()) - before.get(part, set()))
        removed = sorted(before.get(part, set()) - after.get(part, set()))
        changes += [f"{part}: new   {line}" for line in added[:20]]
        changes += [f"{part}: gone  {line}" for line in removed[:20]]
    return changes
