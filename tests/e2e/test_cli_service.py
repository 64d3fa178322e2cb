"""``clipvec search --service URL`` against a real ``bentoml serve`` (issue 22.10).

The shared service over the hostile file names (tests/harness/hostile_names.py) answers;
the CLI runs as a process with a model setting that cannot load, so every answer here
proves the model was not loaded. Its ``--paths`` must print each file's real name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests
from cli_process import REPO, run_clipvec
from hostile_names import HOSTILE_NAMES, hostile_service, stored_path


@pytest.fixture(scope="module")
def svc(services):
    return hostile_service(services)


def cli_env(svc, tmp_path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPVEC_")}
    return {
        **env,
        "CLIPVEC_MODEL": str(tmp_path / "no-model-here"),  # loading it would fail
        "CLIPVEC_MILVUS_URI": str(tmp_path / "no.db"),  # opening it would create it
        "CLIPVEC_IMAGES_DIR": str(svc.images_dir),
        **extra,
    }


def test_search_through_the_service_prints_what_it_answers(svc, tmp_path):
    answer = requests.post(f"{svc.url}/search_text", params={"top_k": 5}, data="a dog", timeout=60).json()
    env = cli_env(svc, tmp_path)
    found = run_clipvec(["search", "a dog", "--top-k", "5", "--service", svc.url], env)
    assert found.returncode == 0, found.stderr
    assert found.stdout == (
        "Using COSINE (cosine similarity) for search; higher scores are closer matches.\n"
        "Search results:\n" + "".join(f"ID: {h['path']}, Score: {h['score']:.2f}\n" for h in answer["hits"])
    )
    assert len(answer["hits"]) == 5
    as_json = run_clipvec(
        ["search", "a dog", "--top-k", "5", "--json"], {**env, "CLIPVEC_SERVICE_URL": svc.url}
    )
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {"hits": answer["hits"], "metric": answer["metric"]}
    assert not (tmp_path / "no.db").exists()


def test_paths_through_the_service_are_the_files_byte_for_byte(svc, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "clipvec", "search", "x", "--top-k", "100", "--paths", "--service", svc.url],
        cwd=REPO,
        env={**cli_env(svc, tmp_path), "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    root = os.fsencode(svc.images_dir.resolve())
    assert sorted(done.stdout.split(b"\n")[:-1]) == sorted(
        line for name in HOSTILE_NAMES for line in (root + b"/" + name).split(b"\n")
    )
    assert done.stderr == b""


def test_image_search_and_open_through_the_service(svc, tmp_path):
    bin_dir, log = tmp_path / "bin", tmp_path / "opened.txt"
    bin_dir.mkdir()
    viewer = bin_dir / "xdg-open"
    viewer.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{log}"\n')
    viewer.chmod(0o755)
    name = next(n for n in HOSTILE_NAMES if n.startswith(b"back"))
    example = tmp_path / "example.png"
    example.write_bytes(svc.files[stored_path(name)])
    env = cli_env(svc, tmp_path, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    found = run_clipvec(
        ["search", "--image", str(example), "--top-k", "1", "--open", "--service", svc.url], env
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines()[2].startswith("ID: back\\\\slash.png, Score: 1.00")
    assert log.read_text() == str(svc.images_dir.resolve() / "back\\slash.png") + "\n"


def test_a_service_for_another_collection_is_refused(svc, tmp_path):
    found = run_clipvec(
        ["search", "a dog", "--service", svc.url], cli_env(svc, tmp_path, CLIPVEC_COLLECTION="photos")
    )
    assert found.returncode == 2 and found.stdout == ""
    assert "serves the collection 'images', not 'photos'" in found.stderr
