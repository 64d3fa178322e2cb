"""``clipvec import`` in this process: its report, exit codes and errors file, on Milvus Lite.

The small shapes CLIP encodes; a re-import with nothing to do must not load it at all.
The Ray import needs a cluster (tests/e2e/test_ray_import.py); only its missing-Ray
message is checked here.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pytest

from clipvec.cli.import_cmd import SKIPPED_SHOWN, import_source, print_report, write_errors
from clipvec.indexing.report import FileFailure, ImportReport
from clipvec.model.facts import facts_at_hand
from clipvec.model.shapes import HELD_OUT_SEED_START, SHAPES_MODEL
from clipvec.settings import Settings
from clipvec.sources import FolderSource
from clipvec.store import ImageStore
from clipvec.store.lite_file import LiteLock

E2E_SEED = HELD_OUT_SEED_START + 700_000  # the images of tests/e2e/test_cli_end_to_end.py
CLASSES = [(c, s) for c in ("red", "blue", "green", "yellow") for s in ("circle", "square", "triangle")]
MODEL = ["--model", str(SHAPES_MODEL)]
SUMMARY = re.compile(
    r"(?P<source>.+): imported (?P<imported>\d+), reused (?P<reused>\d+), unchanged (?P<unchanged>\d+), "
    r"skipped (?P<skipped>\d+)(?: \([^)]*\))?, failed (?P<failed>\d+), pruned (?P<pruned>\d+)"
    r"(?: \([^)]*\))?; the collection holds (?P<total>\d+) images"
)


def summary(out: str) -> dict[str, str]:
    lines = out.splitlines()
    assert len(lines) == 1, lines  # the summary is the only line on stdout
    found = SUMMARY.fullmatch(lines[0])
    assert found, lines[0]
    return found.groupdict()


def stored(db: Path, collection: str = "images") -> int:
    facts = facts_at_hand(str(SHAPES_MODEL))
    with ImageStore(str(db), collection=collection, model_name=facts.name, dim=facts.dim) as store:
        return store.count()


@pytest.fixture
def db_flags(tmp_path) -> list[str]:
    return ["--milvus-uri", str(tmp_path / "milvus.db"), *MODEL, "--no-progress"]


def test_failed_files_set_the_exit_code_and_errors_file(run_cli, tmp_path, shapes_drawer, monkeypatch):
    """In-process twin of the Lite half of the test of the same name in tests/e2e/test_cli_end_to_end.py."""
    images = tmp_path / "images"
    shapes_drawer(images, CLASSES * 3, size=96, seed=E2E_SEED, by_color=True)
    monkeypatch.setenv("CLIPVEC_MODEL", str(SHAPES_MODEL))
    monkeypatch.setenv("CLIPVEC_MILVUS_URI", str(tmp_path / "milvus.db"))
    monkeypatch.setenv("CLIPVEC_COLLECTION", "shapes")
    monkeypatch.setenv("CLIPVEC_IMAGES_DIR", str(images))
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    errors = tmp_path / "errors.jsonl"
    result = run_cli("import", images, "--errors-file", errors)
    assert result.code == 1, result.err
    assert "failed: broken.jpg:" in result.err
    assert "imported 36" in result.out and "failed 1" in result.out
    rows = [json.loads(line) for line in errors.read_text().splitlines()]
    assert [r["path"] for r in rows] == ["broken.jpg"]

    # and, beyond the process test: the exact lines and the errors file's fields
    assert result.err.count("\n") == 1 and result.err.startswith("failed: broken.jpg: ")
    counts = summary(result.out)
    assert counts["source"] == str(images)
    assert (counts["imported"], counts["failed"], counts["total"]) == ("36", "1", "36")
    assert rows[0]["status"] == "failed" and rows[0]["error"] and rows[0]["detail"]
    assert result.err == f"failed: broken.jpg: {rows[0]['detail']}\n"


def test_a_re_import_with_nothing_to_do_never_loads_the_model(
    run_cli, tmp_path, shapes_drawer, db_flags, monkeypatch
):
    images = tmp_path / "images"
    shapes_drawer(images, [("red", "circle"), ("blue", "square"), ("green", "triangle")])
    first = run_cli("import", images, *db_flags)
    assert first.code == 0 and first.err == "", first.err
    assert summary(first.out)["imported"] == "3"

    from clipvec.model.encoder import ClipEncoder

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded for a re-import with nothing to do")

    monkeypatch.setattr(ClipEncoder, "load", refuse)
    again = run_cli("import", images, *db_flags)
    assert again.code == 0, again.err
    assert "imported 0, reused 0, unchanged 3, skipped 0, failed 0, pruned 0" in again.out

    # a file gone: kept without --prune, removed with it, still without the model
    (images / "red_circle_0.png").unlink()
    kept = run_cli("import", images, *db_flags)
    assert summary(kept.out)["total"] == "3"
    pruned = run_cli("import", images, "--prune", *db_flags)
    assert pruned.code == 0, pruned.err
    counts = summary(pruned.out)
    assert (counts["unchanged"], counts["pruned"], counts["total"]) == ("2", "1", "2")

    # a copy of stored bytes is reused, not encoded: still no model
    (images / "copy.png").write_bytes((images / "blue_square_1.png").read_bytes())
    copied = run_cli("import", images, *db_flags)
    assert copied.code == 0 and summary(copied.out)["reused"] == "1", copied.err


def test_skipped_files_are_listed_up_to_20_then_counted(run_cli, tmp_path, shapes_drawer, db_flags):
    images = tmp_path / "images"
    shapes_drawer(images, [("red", "circle")])
    for i in range(SKIPPED_SHOWN + 5):
        (images / f"empty_{i:02d}.png").write_bytes(b"")
    errors = tmp_path / "errors.jsonl"
    result = run_cli("import", images, "--errors-file", errors, *db_flags)
    assert result.code == 0, result.err  # skipped files are not failures
    lines = result.err.splitlines()
    assert lines[:SKIPPED_SHOWN] == [f"skipped: empty_{i:02d}.png: empty_file: 0 bytes" for i in range(20)]
    assert lines[SKIPPED_SHOWN:] == ["skipped: ... and 5 more (--errors-file lists all)"]
    assert "skipped 25 (25 empty_file), failed 0" in result.out
    rows = [json.loads(line) for line in errors.read_text().splitlines()]
    assert len(rows) == 25 and {r["status"] for r in rows} == {"skipped"}
    assert rows[0] == {
        "path": "empty_00.png",
        "error": "empty_file",
        "detail": "0 bytes",
        "status": "skipped",
    }


def test_the_folder_defaults_to_clipvec_images_dir(run_cli, tmp_path, shapes_drawer, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shapes_drawer(tmp_path / "images", [("red", "circle")])
    monkeypatch.setenv("CLIPVEC_MODEL", str(SHAPES_MODEL))
    result = run_cli("import", "--no-progress")
    assert result.code == 0, result.err
    assert summary(result.out)["source"] == str(tmp_path / "images")
    assert stored(tmp_path / "milvus.db") == 1  # ./milvus.db, the default database


@pytest.mark.parametrize("where", ["argument", "environment", "default"])
def test_a_missing_folder_is_exit_2_and_creates_nothing(where, run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "no" / "such" / "folder"
    args = ["import", *MODEL]
    if where == "argument":
        args.append(str(missing))
    elif where == "environment":
        monkeypatch.setenv("CLIPVEC_IMAGES_DIR", str(missing))
    shown = "images" if where == "default" else str(missing)
    result = run_cli(*args)
    assert result.code == 2 and result.out == ""
    assert result.err == f"clipvec: {shown} is not a folder (set CLIPVEC_IMAGES_DIR or pass a folder)\n"
    assert list(tmp_path.iterdir()) == []


def test_import_source_of_a_missing_folder_is_none_and_says_why(tmp_path, capsys):
    args = argparse.Namespace(folder=str(tmp_path / "gone"))
    assert import_source(Settings(), args) is None
    assert capsys.readouterr().err == (
        f"clipvec: {tmp_path / 'gone'} is not a folder (set CLIPVEC_IMAGES_DIR or pass a folder)\n"
    )
    (tmp_path / "a-file").write_text("x")
    assert import_source(Settings(), argparse.Namespace(folder=str(tmp_path / "a-file"))) is None
    source = import_source(Settings(images_dir=str(tmp_path)), argparse.Namespace(folder=None))
    assert isinstance(source, FolderSource) and source.display == str(tmp_path)


def test_a_model_that_cannot_load_is_exit_2(run_cli, tmp_path, shapes_drawer):
    shapes_drawer(tmp_path / "images", [("red", "circle")])
    (tmp_path / "empty-model").mkdir()
    result = run_cli("import", tmp_path / "images", "--model", tmp_path / "empty-model")
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("clipvec: cannot load the CLIP model"), result.err


def test_a_database_held_by_another_process_is_exit_2(run_cli, tmp_path, shapes_drawer, db_flags):
    shapes_drawer(tmp_path / "images", [("red", "circle")])
    db = tmp_path / "milvus.db"
    db.write_bytes(b"")
    held = LiteLock(db)
    held.acquire()
    try:
        result = run_cli("import", tmp_path / "images", *db_flags)
    finally:
        held.release()
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("clipvec: ") and "in use by another process" in result.err
    assert result.err.count("\n") == 1, result.err


def test_ray_without_ray_installed_is_exit_2_with_one_line(run_cli, tmp_path, shapes_drawer, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    shapes_drawer(tmp_path / "images", [("red", "circle")])
    result = run_cli("import", tmp_path / "images", "--ray", "--milvus-uri", tmp_path / "m.db", *MODEL)
    assert result.code == 2 and result.out == ""
    assert result.err == "clipvec: --ray needs Ray: pip install -e '.[ray]' (or pip install 'ray[data]')\n"
    assert not (tmp_path / "m.db").exists()  # nothing opened, nothing created


def test_print_report_lines_and_exit_code(tmp_path, capsys):
    source = FolderSource(tmp_path)
    report = ImportReport(imported=2, unchanged=1)
    report.failed.append(FileFailure("a.jpg", "decode_error", "cut short"))
    report.skipped_files += [FileFailure(f"s{i}.txt", "not_image", "text") for i in range(SKIPPED_SHOWN)]
    assert print_report(report, source, 3, None) == 1
    out, err = capsys.readouterr()
    assert out == (
        f"{tmp_path}: imported 2, reused 0, unchanged 1, skipped 20 (20 not_image), failed 1, pruned 0;"
        " the collection holds 3 images\n"
    )
    lines = err.splitlines()
    assert lines[0] == "failed: a.jpg: cut short"
    assert lines[1:] == [f"skipped: s{i}.txt: not_image: text" for i in range(20)]  # 20: no "more" line

    assert print_report(ImportReport(), source, 0, None) == 0
    assert capsys.readouterr().err == ""


def test_write_errors_is_json_lines_failed_first(tmp_path):
    path = tmp_path / "errors.jsonl"
    write_errors(
        path, [FileFailure("b/ü.jpg", "decode_error", "bad")], [FileFailure("c", "too_large", "big")]
    )
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == [
        {"path": "b/ü.jpg", "error": "decode_error", "detail": "bad", "status": "failed"},
        {"path": "c", "error": "too_large", "detail": "big", "status": "skipped"},
    ]
    write_errors(path, [])
    assert path.read_text() == ""  # rewritten, not appended


# --------------------------------------------------------------------------- issue 22: messages that work
def test_a_known_broken_file_does_not_fail_later_runs_but_a_new_one_does(
    run_cli, tmp_path, shapes_drawer, db_flags
):
    images = tmp_path / "images"
    shapes_drawer(images, [("red", "circle"), ("blue", "square")])
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    first = run_cli("import", images, *db_flags)
    assert first.code == 1 and first.err.startswith("failed: broken.jpg: "), first.err

    again = run_cli("import", images, *db_flags)
    assert again.code == 0, again.err
    assert again.err == (
        "skipped: 1 file known to be broken (reported by an earlier run, unchanged since; "
        "they fail again only if changed; --errors-file lists them)\n"
    )
    assert summary(again.out)["failed"] == "0"

    (images / "new.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    errors = tmp_path / "errors.jsonl"
    third = run_cli("import", images, *db_flags, "--errors-file", errors)
    assert third.code == 1, third.err
    assert "failed: new.png: " in third.err and "1 file known to be broken" in third.err
    rows = {r["path"]: r["status"] for r in map(json.loads, errors.read_text().splitlines())}
    assert rows == {"new.png": "failed", "broken.jpg": "known_broken"}


def test_deleted_files_are_counted_with_the_flag_that_removes_them(
    run_cli, tmp_path, shapes_drawer, db_flags
):
    images = tmp_path / "images"
    paths = shapes_drawer(images, [("red", "circle"), ("blue", "square"), ("green", "triangle")])
    assert run_cli("import", images, *db_flags).code == 0
    paths[0].unlink()
    paths[1].unlink()
    kept = run_cli("import", images, *db_flags)
    assert kept.code == 0
    assert kept.err == "2 files no longer exist; --prune removes them\n"
    assert summary(kept.out)["total"] == "3"
    pruned = run_cli("import", images, *db_flags, "--prune")
    assert pruned.err == "" and summary(pruned.out)["pruned"] == "2"


def test_a_heic_file_says_how_to_enable_heic(run_cli, tmp_path, shapes_drawer, db_flags):
    from clipvec.images.formats import SUPPORTED_FORMATS

    if "HEIC" in SUPPORTED_FORMATS:
        pytest.skip("pillow-heif is installed")
    images = tmp_path / "images"
    shapes_drawer(images, [("red", "circle")])
    (images / "phone.heic").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
    result = run_cli("import", images, *db_flags)
    assert result.code == 0, result.err
    assert "(1 heic_not_enabled)" in result.out
    line = result.err.strip()
    assert line.startswith(
        "skipped: phone.heic: heic_not_enabled: HEIC/HEIF images need the optional pillow-heif"
    )
    assert line.endswith("install 'pillow-heif>=0.16' enables them")
