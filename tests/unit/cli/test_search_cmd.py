"""``clipvec search`` (and the original ``milvus_search.py``) in this process, on Milvus Lite.

One library of 36 drawn shapes (the inputs of tests/e2e/test_cli_end_to_end.py) is imported
once for the module with the small shapes CLIP, so that results can be checked for meaning.
The server variant of these commands is in tests/e2e/test_cli_end_to_end.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import runpy
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from milvus_fixtures import raw_client

from clipvec.model.facts import facts_at_hand
from clipvec.model.shapes import HELD_OUT_SEED_START, SHAPES_MODEL, draw_shape
from clipvec.store import ImageStore

REPO = Path(__file__).resolve().parents[3]
E2E_SEED = HELD_OUT_SEED_START + 700_000  # the images of tests/e2e/test_cli_end_to_end.py
CLASSES = [(c, s) for c in ("red", "blue", "green", "yellow") for s in ("circle", "square", "triangle")]
SEED_LINE = re.compile(r"ID: (\S+), Score: -?\d+\.\d\d")


@dataclass(frozen=True)
class ScriptRun:
    code: int
    out: str
    err: str


@dataclass(frozen=True)
class Library:
    images: Path
    uri: str
    collection: str
    env: dict[str, str]
    first_import: ScriptRun


def run_script(name: str, *args: str) -> ScriptRun:
    """``python3 NAME ARGS`` in this process: the original scripts at the repository root."""
    out, err = io.StringIO(), io.StringIO()
    saved_argv = sys.argv
    sys.argv = [name, *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runpy.run_path(str(REPO / name), run_name="__main__")
                code = 0
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else 1
    finally:
        sys.argv = saved_argv
    return ScriptRun(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def library(tmp_path_factory, shapes_drawer) -> Iterator[Library]:
    root = tmp_path_factory.mktemp("search")
    images = root / "images"
    shapes_drawer(images, CLASSES * 3, size=96, seed=E2E_SEED, by_color=True)
    env = {
        "CLIPVEC_MODEL": str(SHAPES_MODEL),
        "CLIPVEC_MILVUS_URI": str(root / "milvus.db"),
        "CLIPVEC_COLLECTION": "shapes",
        "CLIPVEC_IMAGES_DIR": str(images),
    }
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("CLIPVEC_")]:
            mp.delenv(name)
        for name, value in env.items():
            mp.setenv(name, value)
        first = run_script("milvus_import.py")
    assert first.code == 0, first.err
    # Held open for the module: every search then finds milvus-lite's helper for this file
    # running (0.01 s instead of 0.5 s to open); what the searches do is the same.
    facts = facts_at_hand(str(SHAPES_MODEL))
    with ImageStore(env["CLIPVEC_MILVUS_URI"], collection="shapes", model_name=facts.name, dim=facts.dim):
        yield Library(images, env["CLIPVEC_MILVUS_URI"], "shapes", env, first)


@pytest.fixture
def library_env(library, monkeypatch) -> Library:
    for name, value in library.env.items():
        monkeypatch.setenv(name, value)
    return library


def hit_paths(stdout: str) -> list[str]:
    return [
        line.split("ID: ", 1)[1].split(", Score:")[0]
        for line in stdout.splitlines()
        if line.startswith("ID: ")
    ]


def test_original_scripts_import_and_search_by_meaning(library_env, run_cli, tmp_path):
    """In-process twin of the Lite half of tests/e2e/test_cli_end_to_end.py's test of the same name."""
    assert "imported 36" in library_env.first_import.out

    found = run_script("milvus_search.py", "a red circle", "--top-k", "3")
    assert found.code == 0, found.err
    lines = found.out.splitlines()
    assert lines[0] == "Using COSINE (cosine similarity) for search; higher scores are closer matches."
    assert lines[1] == "Search results:"
    assert len(hit_paths(found.out)) == 3
    assert all(Path(p).name.startswith("red_circle_") for p in hit_paths(found.out)), found.out
    assert all(line.count(", Score: ") == 1 for line in lines[2:])

    query = tmp_path / "query.png"
    draw_shape("blue", "square", size=128, seed=E2E_SEED + 999).save(query)
    by_image = run_cli("search", "--image", query, "--json", "--top-k", "3")
    assert by_image.code == 0, by_image.err
    hits = json.loads(by_image.out)["hits"]
    assert [Path(h["path"]).name.split("_")[:2] for h in hits] == [["blue", "square"]] * 3
    assert all({"path", "score", "size", "width", "height"} <= set(h) for h in hits)
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)

    filtered = run_cli("search", "a red circle", "--path-prefix", "blue/", "--json")
    assert {h["path"].split("/")[0] for h in json.loads(filtered.out)["hits"]} == {"blue"}

    again = run_script("milvus_import.py")
    assert again.code == 0 and "imported 0, reused 0, unchanged 36" in again.out, again.out


def test_the_search_script_searches_for_a_dog_without_a_text(library_env):
    found = run_script("milvus_search.py", "--top-k", "2")
    assert found.code == 0, found.err
    assert len(hit_paths(found.out)) == 2


def test_hits_are_printed_in_the_seed_s_line_shape(library_env, run_cli):
    found = run_cli("search", "a green triangle", "--top-k", "3")
    assert found.code == 0 and found.err == "", found.err
    lines = found.out.splitlines()
    assert lines[:2] == [
        "Using COSINE (cosine similarity) for search; higher scores are closer matches.",
        "Search results:",
    ]
    assert len(lines) == 5 and all(SEED_LINE.fullmatch(line) for line in lines[2:]), lines
    assert all(path.startswith("green/green_triangle_") for path in hit_paths(found.out)), lines


def test_json_answer_names_the_metric_and_lists_paths(library_env, run_cli):
    found = run_cli("search", "a yellow square", "--json", "--top-k", "2")
    assert found.code == 0, found.err
    answer = json.loads(found.out)
    assert answer["metric"] == "COSINE" and len(answer["hits"]) == 2
    hit = answer["hits"][0]
    assert hit["path"].startswith("yellow/yellow_square_") and hit["paths"] == [hit["path"]]
    assert hit["path_count"] == 1 and hit["width"] == hit["height"] == 96
    assert len(found.out.strip().splitlines()) == 1


def test_a_min_score_above_every_hit_finds_nothing_and_exits_0(library_env, run_cli):
    found = run_cli("search", "a red circle", "--min-score", "0.9999")
    assert found.code == 0, found.err
    assert found.out.splitlines()[1:] == ["Search results:"]
    as_json = run_cli("search", "a red circle", "--min-score", "0.9999", "--json")
    assert as_json.code == 0 and json.loads(as_json.out)["hits"] == []


def test_flags_override_the_environment(library_env, run_cli, tmp_path):
    other = run_cli("search", "a red circle", "--milvus-uri", tmp_path / "other.db")
    assert other.code == 1 and f"there is no database at {tmp_path / 'other.db'}" in other.err
    assert list(tmp_path.iterdir()) == []


BAD_OPTIONS = [
    (["--top-k", "-1"], "clipvec: top_k must be between 1 and 1000"),
    (["--top-k", "0"], "clipvec: top_k must be between 1 and 1000"),
    (["--top-k", "1001"], "clipvec: top_k must be between 1 and 1000"),
    (["--min-score", "nan"], "clipvec: min_score must be a finite number, e.g. min_score=0.25"),
    (["--min-score", "inf"], "clipvec: min_score must be a finite number, e.g. min_score=0.25"),
    (
        ["--path-prefix", "red/\x01"],
        "clipvec: path_prefix must be a path of at most 1024 characters, without control characters",
    ),
    (
        ["--path-prefix", "x" * 1025],
        "clipvec: path_prefix must be a path of at most 1024 characters, without control characters",
    ),
]


BAD_OPTION_IDS = [
    "top_k=-1",
    "top_k=0",
    "top_k=1001",
    "min_score=nan",
    "min_score=inf",
    "prefix-ctrl",
    "prefix-long",
]


@pytest.mark.parametrize(("flags", "line"), BAD_OPTIONS, ids=BAD_OPTION_IDS)
def test_bad_options_are_one_line_and_exit_2_before_the_model_loads(
    flags, line, run_cli, tmp_path, no_model_load
):
    db = tmp_path / "milvus.db"
    db.write_bytes(b"")  # there is a database: the options are what is wrong
    result = run_cli("search", "a dog", "--milvus-uri", db, "--model", SHAPES_MODEL, *flags)
    assert result.code == 2  # and no_model_load: nothing was loaded first
    assert result.err == line + "\n" and result.out == ""
    assert [p.name for p in tmp_path.iterdir()] == ["milvus.db"] and db.stat().st_size == 0


@pytest.mark.parametrize("query", [[], [""], ["   "]])
def test_no_text_and_no_image_is_exit_2(query, run_cli, tmp_path, no_model_load):
    (tmp_path / "milvus.db").write_bytes(b"")
    result = run_cli("search", *query, "--milvus-uri", tmp_path / "milvus.db")
    assert result.code == 2
    assert result.err == 'clipvec: give a text to search for (clipvec search "a dog") or --image FILE\n'


def test_search_against_a_missing_database_says_so_and_creates_nothing(run_cli, tmp_path, monkeypatch):
    """In-process twin of the test of the same name in tests/e2e/test_newcomer_cli.py."""
    monkeypatch.chdir(tmp_path)
    result = run_cli("search", "a dog")
    assert result.code == 1
    assert f"there is no database at {tmp_path / 'milvus.db'}" in result.err
    assert list(tmp_path.iterdir()) == []


def test_search_on_empty_collection_and_bad_arguments(run_cli, tmp_path, monkeypatch):
    """In-process twin of the Lite half of the test of the same name in tests/e2e/test_cli_end_to_end.py."""
    uri = tmp_path / "milvus.db"
    monkeypatch.setenv("CLIPVEC_MODEL", str(SHAPES_MODEL))
    monkeypatch.setenv("CLIPVEC_MILVUS_URI", str(uri))
    monkeypatch.setenv("CLIPVEC_COLLECTION", "shapes")
    monkeypatch.setenv("CLIPVEC_IMAGES_DIR", str(tmp_path / "images"))
    empty = run_script("milvus_search.py", "a red circle")
    assert empty.code == 1 and "there is no database at" in empty.err
    assert not uri.exists()  # and searching did not create it
    missing = run_cli("import", "/no/such/folder")
    assert missing.code == 2 and "is not a folder" in missing.err


def test_a_missing_database_wins_over_bad_options(run_cli, tmp_path, no_model_load):
    """The database is looked for first: exit 1, as before the options were checked up front."""
    result = run_cli("search", "a dog", "--top-k", "-1", "--milvus-uri", tmp_path / "none" / "x.db")
    assert result.code == 1 and "there is no database at" in result.err
    assert list(tmp_path.iterdir()) == []


def test_an_empty_collection_is_exit_1(library_env, run_cli):
    result = run_cli("search", "a red circle", "--collection", "nothing_yet")
    assert result.code == 1 and result.out == ""
    assert result.err == (
        f"clipvec: the collection 'nothing_yet' at {library_env.uri} is empty; "
        "import images first (clipvec import DIR)\n"
    )


@pytest.mark.parametrize("command", [["search", "a red circle"], ["facets"], ["duplicates"]])
def test_readers_say_a_missing_collection_is_empty_and_create_nothing(library_env, run_cli, command):
    """A mistyped collection name is not made (empty, with this model) by a command that only reads."""
    result = run_cli(*command, "--collection", "typo_of_images")
    assert (result.code, result.out) == (1, ""), result.err
    assert "the collection 'typo_of_images'" in result.err and "is empty" in result.err
    client = raw_client(library_env.uri)
    try:
        assert "typo_of_images" not in client.list_collections()
    finally:
        client.close()


def test_an_unreadable_example_image_is_exit_2(library_env, run_cli, tmp_path):
    result = run_cli("search", "--image", tmp_path / "gone.png")
    assert result.code == 2 and result.out == ""
    assert result.err == f"clipvec: cannot read {tmp_path / 'gone.png'}: No such file or directory\n"


def test_an_example_that_is_not_an_image_is_one_line_exit_2(library_env, run_cli, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("not an image at all\n")
    result = run_cli("search", "--image", notes)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("clipvec: ") and result.err.count("\n") == 1, result.err


def test_another_model_than_the_collection_s_is_exit_2_naming_drop(library_env, run_cli, tiny_model_dir):
    result = run_cli("search", "a red circle", "--model", tiny_model_dir)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("clipvec: ") and "clipvec drop" in result.err, result.err


# ----------------------------------------------------------------------- --paths, --open (issue 22.10)
def test_paths_prints_absolute_file_paths_and_nothing_else(library_env, run_cli):
    found = run_cli("search", "a red circle", "--paths", "--top-k", "3")
    assert found.code == 0 and found.err == "", found.err
    lines = found.out.splitlines()
    assert len(lines) == 3 and found.out.endswith("\n")
    for line in lines:
        path = Path(line)
        assert path.is_absolute() and path.is_file(), line
        assert path.parent.parent == library_env.images.resolve() and path.name.startswith("red_circle_")


def test_paths_warns_on_stderr_when_the_files_are_elsewhere(library_env, run_cli, monkeypatch, tmp_path):
    monkeypatch.setenv("CLIPVEC_IMAGES_DIR", str(tmp_path / "elsewhere"))
    found = run_cli("search", "a red circle", "--paths", "--top-k", "2")
    assert found.code == 0
    assert [Path(p).parent.parent for p in found.out.splitlines()] == [tmp_path / "elsewhere"] * 2
    assert "2 of these paths are not files here" in found.err and "CLIPVEC_IMAGES_DIR" in found.err


def fake_viewer(folder: Path, log: Path, code: int = 0) -> Path:
    """An ``xdg-open`` (and ``open``) that writes its argument to ``log`` and exits with ``code``."""
    folder.mkdir()
    for name in ("xdg-open", "open"):
        script = folder / name
        script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{log}"\nexit {code}\n')
        script.chmod(0o755)
    return folder


def test_open_hands_each_result_to_the_viewer(library_env, run_cli, monkeypatch, tmp_path):
    log = tmp_path / "opened.txt"
    monkeypatch.setenv("PATH", str(fake_viewer(tmp_path / "bin", log)))
    found = run_cli("search", "a blue square", "--open", "--top-k", "2")
    assert found.code == 0, found.err
    opened = log.read_text().splitlines()
    # the launchers run side by side: their order is not the results' order
    assert sorted(opened) == sorted(str(library_env.images.resolve() / p) for p in hit_paths(found.out))
    assert len(opened) == 2 and all(Path(p).is_file() for p in opened)


def test_open_says_when_there_is_no_viewer_or_it_fails(library_env, run_cli, monkeypatch, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    found = run_cli("search", "a blue square", "--open", "--top-k", "1")
    assert found.code == 1 and len(hit_paths(found.out)) == 1  # the results are still printed
    assert "--open needs xdg-open" in found.err and "not on PATH" in found.err
    monkeypatch.setenv("PATH", str(fake_viewer(tmp_path / "bin", tmp_path / "log.txt", code=3)))
    failing = run_cli("search", "a blue square", "--open", "--top-k", "1")
    assert failing.code == 1 and "could not open" in failing.err and "(exit 3)" in failing.err


def test_paths_and_json_exclude_each_other(library_env, run_cli, capsys):
    with pytest.raises(SystemExit) as done:
        run_cli("search", "a red circle", "--paths", "--json")
    assert done.value.code == 2
    assert "argument --json: not allowed with argument --paths" in capsys.readouterr().err


def test_a_slow_model_load_hints_at_service_on_a_terminal(library_env, run_cli, monkeypatch):
    import clipvec.cli.search_cmd as search_cmd

    monkeypatch.setattr(search_cmd, "SLOW_MODEL_LOAD", 0.0)
    quiet = run_cli("search", "a red circle", "--top-k", "1")
    assert quiet.code == 0 and quiet.err == ""  # not a terminal: scripts get no hint
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    hinted = run_cli("search", "a red circle", "--top-k", "1")
    assert hinted.code == 0 and hinted.err.count("\n") == 1
    assert "loading the model took" in hinted.err and "--service http://127.0.0.1:3000" in hinted.err


def test_an_unreachable_service_is_a_clear_error_without_loading_the_model(run_cli, no_model_load, tmp_path):
    from procs import free_port

    url = f"http://127.0.0.1:{free_port()}"
    found = run_cli("search", "a dog", "--service", url, "--milvus-uri", tmp_path / "none.db")
    assert found.code == 2 and found.out == ""
    assert f"cannot reach the service at {url}" in found.err and "clipvec serve" in found.err
    assert list(tmp_path.iterdir()) == []


def test_the_store_opens_while_the_model_loads(library_env, run_cli, monkeypatch):
    """Issue 20.1: the collection is opened (Milvus Lite started) while the model loads in a thread."""
    from load_overlap import watch_store_while_model_loads

    seen = watch_store_while_model_loads(monkeypatch)
    found = run_cli("search", "a red circle", "--top-k", "1")
    assert found.code == 0, found.err
    assert seen == [True]


def test_a_model_that_fails_to_load_is_the_error_while_the_store_opens(library_env, run_cli, tmp_path):
    import shutil

    broken = shutil.copytree(SHAPES_MODEL, tmp_path / "model")
    config = json.loads((broken / "config.json").read_text())
    config["vision_config"]["intermediate_size"] += 1  # weights of another shape: the load fails
    (broken / "config.json").write_text(json.dumps(config))
    failed = run_cli("search", "a red circle", "--model", str(broken))
    assert failed.code == 2
    assert failed.err.startswith("clipvec: cannot load the CLIP model") and "Ways out" in failed.err
