"""The import and search commands as users run them, as processes, against the real Milvus server.

Uses the small CLIP trained on coloured shapes (tests/assets/shapes-clip), so that
search results can be checked for meaning: "a red circle" must find red circles.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from milvus_fixtures import drop_collections, unique_collection

from clipvec.model.shapes import HELD_OUT_SEED_START, SHAPES_MODEL, draw_shape

REPO = Path(__file__).resolve().parents[2]
SEED = HELD_OUT_SEED_START + 700_000
CLASSES = [(c, s) for c in ("red", "blue", "green", "yellow") for s in ("circle", "square", "triangle")]


def run(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def shapes_env(milvus_server, tmp_path) -> Iterator[dict[str, str]]:
    """The real server only: the same commands on Milvus Lite run in process (tests/unit/cli)."""
    uri, collection = milvus_server.uri, unique_collection("cli")
    images = tmp_path / "images"
    for i, (color, shape) in enumerate(CLASSES * 3):
        path = images / color / f"{color}_{shape}_{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        draw_shape(color, shape, size=96, seed=SEED + i).save(path)
    yield {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "CLIPVEC_MODEL": str(SHAPES_MODEL),
        "CLIPVEC_MILVUS_URI": uri,
        "CLIPVEC_COLLECTION": collection,
        "CLIPVEC_IMAGES_DIR": str(images),
    }
    drop_collections(uri, collection)


def hit_paths(stdout: str) -> list[str]:
    return [
        line.split("ID: ", 1)[1].split(", Score:")[0]
        for line in stdout.splitlines()
        if line.startswith("ID: ")
    ]


def test_original_scripts_import_and_search_by_meaning(shapes_env, tmp_path):
    imported = run(["milvus_import.py"], shapes_env)
    assert imported.returncode == 0, imported.stderr
    assert "imported 36" in imported.stdout

    found = run(["milvus_search.py", "a red circle", "--top-k", "3"], shapes_env)
    assert found.returncode == 0, found.stderr
    lines = found.stdout.splitlines()
    assert lines[0] == "Using COSINE (cosine similarity) for search; higher scores are closer matches."
    assert lines[1] == "Search results:"
    assert len(hit_paths(found.stdout)) == 3
    assert all(Path(p).name.startswith("red_circle_") for p in hit_paths(found.stdout)), found.stdout
    assert all(line.count(", Score: ") == 1 for line in lines[2:])

    # search by example image, through the CLI, as JSON
    query = tmp_path / "query.png"
    draw_shape("blue", "square", size=128, seed=SEED + 999).save(query)
    by_image = run(["-m", "clipvec", "search", "--image", str(query), "--json", "--top-k", "3"], shapes_env)
    assert by_image.returncode == 0, by_image.stderr
    hits = json.loads(by_image.stdout)["hits"]
    assert [Path(h["path"]).name.split("_")[:2] for h in hits] == [["blue", "square"]] * 3
    assert all({"path", "score", "size", "width", "height"} <= set(h) for h in hits)
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)

    filtered = run(
        ["-m", "clipvec", "search", "a red circle", "--path-prefix", "blue/", "--json"], shapes_env
    )
    assert {h["path"].split("/")[0] for h in json.loads(filtered.stdout)["hits"]} == {"blue"}

    # unchanged folder: the second run encodes nothing
    again = run(["milvus_import.py"], shapes_env)
    assert again.returncode == 0 and "imported 0, reused 0, unchanged 36" in again.stdout, again.stdout


def test_failed_files_set_the_exit_code_and_errors_file(shapes_env, tmp_path):
    images = Path(shapes_env["CLIPVEC_IMAGES_DIR"])
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    errors = tmp_path / "errors.jsonl"
    result = run(["-m", "clipvec", "import", str(images), "--errors-file", str(errors)], shapes_env)
    assert result.returncode == 1, result.stderr
    assert "failed: broken.jpg:" in result.stderr
    assert "imported 36" in result.stdout and "failed 1" in result.stdout
    rows = [json.loads(line) for line in errors.read_text().splitlines()]
    assert [r["path"] for r in rows] == ["broken.jpg"]


def test_search_on_empty_collection_and_bad_arguments(shapes_env):
    empty = run(["milvus_search.py", "a red circle"], shapes_env)
    if shapes_env["CLIPVEC_MILVUS_URI"].endswith(".db"):  # Milvus Lite: the file is not there yet
        assert empty.returncode == 1 and "there is no database at" in empty.stderr
        assert not Path(shapes_env["CLIPVEC_MILVUS_URI"]).exists()  # and searching did not create it
    else:
        assert empty.returncode == 1 and "is empty" in empty.stderr
    missing = run(["-m", "clipvec", "import", "/no/such/folder"], shapes_env)
    assert missing.returncode == 2 and "is not a folder" in missing.stderr
