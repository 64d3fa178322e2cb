"""A local folder as a source: its scan, its uploads and the files it serves to the page."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from clipvec.sources import FolderSource, open_source, source_of_stored_path
from clipvec.sources.folder import resolve_inside


def png_bytes(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buf, "PNG")
    return buf.getvalue()


def test_resolve_inside(tmp_path):
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.png").write_bytes(b"x")
    (tmp_path / "out.png").write_bytes(b"x")
    os.symlink(tmp_path / "out.png", root / "link.png")
    os.symlink(root / "sub" / "a.png", root / "inner-link.png")
    real_root = Path(os.path.realpath(root))
    assert resolve_inside(real_root, "sub/a.png") == real_root / "sub" / "a.png"
    assert resolve_inside(real_root, "inner-link.png") == real_root / "sub" / "a.png"
    assert resolve_inside(real_root, "link.png") is None
    assert resolve_inside(real_root, "../out.png") is None
    assert resolve_inside(real_root, str(tmp_path / "out.png")) is None


def test_open_source_picks_the_kind_from_the_location(tmp_path):
    folder = open_source(tmp_path)
    assert isinstance(folder, FolderSource) and folder.root == tmp_path.resolve()
    s3 = open_source("s3://photos/2024/")
    assert (s3.bucket, s3.prefix, s3.uri) == ("photos", "2024", "s3://photos/2024/")
    assert source_of_stored_path("a/b.jpg", folder) is folder
    bucket = source_of_stored_path("s3://other/x/y.jpg", folder)
    assert bucket.owns("s3://other/x/y.jpg") and not bucket.owns("s3://photos/2024/a.jpg")


def read_whole(source, path):
    with source.open_indexed(path) as opened:
        return opened.read_all()


def test_open_indexed_serves_regular_files_inside_only(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    (root / "a.png").write_bytes(png_bytes())
    (tmp_path / "secret.png").write_bytes(png_bytes((1, 2, 3)))
    os.symlink(tmp_path / "secret.png", root / "out.png")
    os.mkfifo(root / "fifo.png")
    source = FolderSource(root)
    opened = source.open_indexed("a.png")
    assert opened is not None and opened.read_all() == (root / "a.png").read_bytes()
    st = (root / "a.png").stat()
    assert (opened.version, opened.size) == (f"f{st.st_size:x}-{st.st_mtime_ns:x}", st.st_size)
    assert opened.modified == st.st_mtime and not opened.changed()
    opened.close()
    assert source.serves("a.png")
    for refused in ("out.png", "../secret.png"):  # outside the folder, by a link or by name
        assert not source.serves(refused), refused
        assert source.open_indexed(refused) is None, refused
    assert source.serves("missing.png") and source.open_indexed("missing.png") is None
    assert source.open_indexed("fifo.png") is None  # inside, but not a regular file


def test_escaped_names_are_served_by_their_stored_path(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    name = os.fsdecode(b"caf\xe9.png")  # not UTF-8: stored as "caf\\xe9.png"
    (root / name).write_bytes(png_bytes())
    found = list(FolderSource(root).scan())
    assert [f.rel_path for f in found] == ["caf\\xe9.png"]
    assert read_whole(FolderSource(root), "caf\\xe9.png") == png_bytes()


def test_an_opened_file_is_the_one_opened_and_tells_when_it_changed(tmp_path):
    """The page streams from the descriptor it checked: a rename over it is not seen, a truncation is."""
    root = tmp_path / "images"
    root.mkdir()
    (root / "a.png").write_bytes(b"A" * 1000)
    source = FolderSource(root)
    with source.open_indexed("a.png") as opened:
        (root / "b.png").write_bytes(b"B" * 10)
        os.replace(root / "b.png", root / "a.png")  # replaced by a rename: still the old file
        assert opened.read_at(990, 100) == b"A" * 10 and not opened.changed()
    with source.open_indexed("a.png") as opened:
        assert opened.size == 10
        with open(root / "a.png", "r+b") as f:
            f.truncate(4)
        assert opened.read_at(0, 10) == b"BBBB" and opened.changed()
        with pytest.raises(OSError, match="shrank"):
            opened.read_all()


def test_uploads_go_below_the_folder_and_can_be_undone(tmp_path):
    source = FolderSource(tmp_path / "images")
    data = png_bytes()
    saved = source.save_upload(data, "holiday photo.png", "PNG")
    assert (
        saved.created
        and saved.rel_path.startswith("uploads/")
        and saved.rel_path.endswith("-holiday_photo.png")
    )
    assert read_whole(source, saved.rel_path) == data
    again = source.save_upload(data, "holiday photo.png", "PNG")
    assert not again.created and again.rel_path == saved.rel_path
    source.remove_upload(again)  # not created by that call: kept
    assert (tmp_path / "images" / saved.rel_path).exists()
    source.remove_upload(saved)
    assert not (tmp_path / "images" / saved.rel_path).exists()


def test_a_file_replaced_by_a_fifo_after_the_scan_is_an_error_not_a_hang(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes())
    source = FolderSource(tmp_path)
    assert [f.rel_path for f in source.scan()] == ["a.png"]
    (tmp_path / "a.png").unlink()
    os.mkfifo(tmp_path / "a.png")
    with pytest.raises(OSError, match="not a regular file"):
        source.open("a.png")
