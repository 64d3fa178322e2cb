"""``clipvec duplicates`` in this process: every option and exit code, on a real import (Milvus Lite).

tests/e2e/test_duplicates_cli.py runs the command once as a process; the combinations are here,
where they cost milliseconds instead of a Python start-up each.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_scenes import COPY_GROUPS, copy_groups, write_resized_copies


@pytest.fixture
def resized_copies(tmp_path, imported_folder) -> Path:
    """Three shapes in ``trip/`` and a smaller JPEG copy of each beside them, imported."""
    write_resized_copies(tmp_path / "images")
    return imported_folder(tmp_path / "images")


def test_json_lists_each_copy_with_its_original(resized_copies, run_cli):
    found = run_cli("duplicates", "--threshold", "0.9", "--json")
    assert found.code == 0, found.err
    answer = json.loads(found.out)
    assert answer["images"] == 6 and answer["group_count"] == 3
    assert copy_groups(answer) == COPY_GROUPS
    first = answer["groups"][0]["images"]
    assert [(m["width"], m["height"], m["format"]) for m in first] == [(128, 128, "PNG"), (96, 96, "JPEG")]
    assert all(m["size"] > 0 and m["mtime"].endswith("+00:00") for m in first)


def test_path_prefix_and_limit_as_people_read_them(resized_copies, run_cli):
    shown = run_cli("duplicates", "--threshold", "0.9", "--path-prefix", "trip/")
    assert shown.code == 0, shown.err
    assert shown.out.startswith("0 groups of near-duplicates (cosine >= 0.9) among 3 images")

    people = run_cli("duplicates", "--threshold", "0.9", "--limit", "1")
    assert people.code == 0, people.err
    assert "3 groups of near-duplicates" in people.out and "(the 1 biggest shown)" in people.out
    assert people.out.count("\ngroup ") == 1 and "nothing was deleted" in people.out


def test_a_bad_threshold_is_exit_2_and_a_missing_database_exit_1_creating_nothing(
    resized_copies, run_cli, tmp_path, monkeypatch
):
    refused = run_cli("duplicates", "--threshold", "1.5")
    assert refused.code == 2 and "threshold must be" in refused.err
    monkeypatch.setenv("CLIPVEC_MILVUS_URI", str(tmp_path / "none.db"))
    missing = run_cli("duplicates")
    assert missing.code == 1 and not (tmp_path / "none.db").exists()
