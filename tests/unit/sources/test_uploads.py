"""Uploads kept as files: named by content, one copy whatever the names, planted links never followed."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from full_disk import fill
from PIL import Image

from clipvec.errors import ClipvecError, StorageFull
from clipvec.sources.uploads import remove_upload, safe_name, save_upload, upload_rel_path


def png(color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buf, "PNG")
    return buf.getvalue()


def stem_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("holiday photo.png", "holiday_photo.png"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\.secret.jpg", "secret.jpg"),
        ("._mac.png", "mac.png"),
        ("été à Paris.jpg", "t_Paris.jpg"),
        ("a" * 300 + ".png", "a" * 100),
        ("...", ""),
    ],
)
def test_safe_names(name, safe):
    assert safe_name(name) == safe


def test_an_upload_is_named_by_its_content_and_format():
    data = png()
    digest = hashlib.sha256(data).hexdigest()
    assert upload_rel_path(data, "beach.jpeg", "JPEG") == (f"uploads/{digest[:16]}-beach.jpg", digest)
    assert upload_rel_path(data, "", "PNG")[0] == f"uploads/{digest[:16]}-image.png"
    assert upload_rel_path(data, "x", "QOI")[0] == f"uploads/{digest[:16]}-x.img"


def test_the_same_bytes_under_two_names_are_stored_once(tmp_path):
    data = png()
    first = save_upload(tmp_path, data, "a.png", "PNG")
    second = save_upload(tmp_path, data, "b.png", "PNG")
    assert first.created and second.created
    assert (first.rel_path, second.rel_path) == (
        f"uploads/{stem_of(data)}-a.png",
        f"uploads/{stem_of(data)}-b.png",
    )
    a, b = (os.stat(tmp_path / saved.rel_path) for saved in (first, second))
    assert (a.st_ino, a.st_nlink) == (b.st_ino, 2)  # a hard link: one copy of the bytes
    assert first.content_hash == second.content_hash == hashlib.sha256(data).hexdigest()
    assert second.mtime == b.st_mtime

    again = save_upload(tmp_path, data, "a.png", "PNG")
    assert (again.rel_path, again.created) == (first.rel_path, False)
    remove_upload(tmp_path, again)  # not created by that call: kept
    remove_upload(tmp_path, second)  # the second name goes, the first stays
    assert sorted(os.listdir(tmp_path / "uploads")) == [f"{stem_of(data)}-a.png"]
    assert (tmp_path / first.rel_path).read_bytes() == data


def test_a_planted_symlink_at_the_name_is_replaced_not_written_through(tmp_path):
    data = png()
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"precious")
    images = tmp_path / "images"
    (images / "uploads").mkdir(parents=True)
    target = images / "uploads" / f"{stem_of(data)}-a.png"
    target.symlink_to(outside)
    saved = save_upload(images, data, "a.png", "PNG")
    assert saved.created and saved.rel_path == f"uploads/{target.name}"
    assert outside.read_bytes() == b"precious"
    assert not target.is_symlink() and target.read_bytes() == data


def test_a_planted_symlink_to_the_same_bytes_is_not_taken_for_the_upload(tmp_path):
    """It would serve (and let remove_upload delete) a file outside the folder."""
    data = png()
    outside = tmp_path / "outside.png"
    outside.write_bytes(data)
    images = tmp_path / "images"
    (images / "uploads").mkdir(parents=True)
    (images / "uploads" / f"{stem_of(data)}-other.png").symlink_to(outside)
    saved = save_upload(images, data, "a.png", "PNG")
    assert saved.created and not (images / saved.rel_path).is_symlink()
    assert os.stat(images / saved.rel_path).st_ino != os.stat(outside).st_ino


def test_an_uploads_folder_that_is_a_symlink_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    images = tmp_path / "images"
    images.mkdir()
    (images / "uploads").symlink_to(elsewhere)
    with pytest.raises(ClipvecError) as caught:
        save_upload(images, png(), "a.png", "PNG")
    assert (caught.value.code, caught.value.status) == ("upload_failed", 500)
    assert (
        caught.value.detail
        == "cannot open the uploads folder (is it a symlink?); the service log has the details"
    )
    assert list(elsewhere.iterdir()) == []


def test_a_full_disk_is_storage_full_and_leaves_no_partial_file(small_disk):
    images = small_disk / "images"
    (images / "uploads").mkdir(parents=True)
    filler = fill(small_disk)
    data = png() + b"\0" * 100_000  # more than the few bytes the filler may have left
    with pytest.raises(StorageFull) as caught:
        save_upload(images, data, "a.png", "PNG")
    assert (caught.value.status, caught.value.detail) == (
        507,
        "the images folder's disk is full (cannot write the upload file)",
    )
    assert os.listdir(images / "uploads") == []
    filler.unlink()
    assert save_upload(images, data, "a.png", "PNG").created  # room again: saved
