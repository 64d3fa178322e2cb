"""``clipvec search --paths``'s file names (clipvec.cli.search_output), for every stored name form."""

from __future__ import annotations

import io
import os

from hostile_names import HOSTILE_NAMES, stored_path, write_hostile_folder

from clipvec.cli.search_output import file_names, missing_files, print_paths


def test_each_stored_path_prints_as_the_real_file_name(tmp_path):
    """A backslash, a byte that is not UTF-8, a tab: --paths prints the name on disk, byte for byte."""
    images = tmp_path / "images"
    write_hostile_folder(images)
    stored = [stored_path(name) for name in HOSTILE_NAMES]
    names = file_names(str(images), [*stored, "s3://bucket/a b.png"])
    assert names[-1] == "s3://bucket/a b.png"
    assert missing_files(names) == []
    out = io.BytesIO()
    print_paths(names[:-1], out)
    # one name per line, the file system's bytes (a name that holds a newline spans two lines)
    assert out.getvalue() == b"".join(
        os.fsencode(images.resolve()) + b"/" + name + b"\n" for name in HOSTILE_NAMES
    )


def test_relative_folders_resolve_against_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert file_names("images", ["a/b.png"]) == [str(tmp_path / "images" / "a" / "b.png")]
    assert missing_files([str(tmp_path / "nothing.png"), "s3://b/k.png"]) == [str(tmp_path / "nothing.png")]
