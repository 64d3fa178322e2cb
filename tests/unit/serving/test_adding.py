"""``add_image``: the file is kept and its record stored, never one without the other (clipvec.serving.adding).

In-process twins of tests/e2e/test_hardening.py's
test_uploads_never_follow_planted_symlinks_and_keep_one_copy,
test_store_failure_leaves_no_file_and_no_address (a Milvus server nobody listens on) and
test_full_disk_is_507_without_a_part_file (the images folder on a full 2 MB tmpfs).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from serving_fixtures import jpeg_bytes, open_core, png_bytes

from clipvec.errors import StorageFull, StoreUnavailable
from clipvec.search import HIT_PATHS_SHOWN
from clipvec.serving.error_bodies import PUBLIC_DETAIL
from clipvec.serving.service import json_errors
from clipvec.serving.web.files import PageFiles
from clipvec.store import names


def images_dir(core) -> Path:
    return Path(core.settings.images_dir)


def upload_files(core) -> list[str]:
    """Every entry of the uploads folder (symlinks and hidden temporary files included)."""
    folder = images_dir(core) / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_new_image_is_saved_and_stored(serving_core):
    data = jpeg_bytes(200, 150, seed=1)
    answer = serving_core.add_image(data, "holiday photo.jpg")
    digest = hashlib.sha256(data).hexdigest()
    assert answer["path"] == f"uploads/{digest[:16]}-holiday_photo.jpg"
    assert answer["paths"] == [answer["path"]] and answer["path_count"] == 1
    assert answer["content_hash"] == digest and answer["created"] is True
    assert (answer["size"], answer["width"], answer["height"], answer["format"]) == (
        len(data),
        200,
        150,
        "JPEG",
    )
    assert (images_dir(serving_core) / answer["path"]).read_bytes() == data
    # the answer also holds the stored record found by its own vector
    assert answer["hits"][0]["path"] == answer["path"] and answer["hits"][0]["score"] > 0.999
    record = serving_core.store.run(lambda store: store.get_by_path(answer["path"]))
    assert record is not None and record.content_hash == digest and list(record.paths) == [answer["path"]]


def test_the_same_bytes_again_are_not_created_twice(serving_core):
    data = jpeg_bytes(seed=2)
    first = serving_core.add_image(data, "again.jpg")
    count = serving_core.collection_info()["count"]
    second = serving_core.add_image(data, "again.jpg")
    assert first["created"] is True and second["created"] is False
    assert second["path"] == first["path"] and second["path_count"] == 1
    assert serving_core.collection_info()["count"] == count


def test_the_same_bytes_under_two_names_are_one_file_with_both_paths(serving_core):
    data = jpeg_bytes(seed=3)
    first = serving_core.add_image(data, "one.jpg")
    second = serving_core.add_image(data, "two.jpg")
    assert second["created"] is False and second["path_count"] == 2
    new_name = first["path"].replace("-one.jpg", "-two.jpg")
    assert second["paths"] == [first["path"], new_name]
    assert second["path"] == new_name  # the name just saved, not the record's first (issue 21)
    assert second["path_listed"] is True
    one, two = (images_dir(serving_core) / p for p in second["paths"])
    assert one.stat().st_ino == two.stat().st_ino  # one copy of the bytes, two names
    record = serving_core.store.run(lambda store: store.get([second["content_hash"]]))[second["content_hash"]]
    assert list(record.paths) == second["paths"]


def test_hits_show_a_few_paths_and_the_record_keeps_a_bounded_number(serving_core, monkeypatch):
    monkeypatch.setattr(names, "PATHS_KEPT", HIT_PATHS_SHOWN + 1)
    data = jpeg_bytes(seed=4)
    answers = [serving_core.add_image(data, f"name{i}.jpg") for i in range(HIT_PATHS_SHOWN + 3)]
    last = answers[-1]
    assert last["path_count"] == HIT_PATHS_SHOWN + 1  # the first names found are kept, no more
    names_ = [answers[0]["path"].replace("-name0.jpg", f"-name{i}.jpg") for i in range(len(answers))]
    assert last["paths"] == names_[:HIT_PATHS_SHOWN]
    assert [a["path"] for a in answers] == names_  # each answer names the file it saved
    assert [a["path_listed"] for a in answers] == [True] * (HIT_PATHS_SHOWN + 1) + [False, False]
    assert "note" not in answers[0] and "first 6 names" in last["note"]
    record = serving_core.store.run(lambda store: store.get([last["content_hash"]]))[last["content_hash"]]
    assert list(record.paths) == names_[: HIT_PATHS_SHOWN + 1]
    # the names the record does not list are saved and still served by the page (by content)
    assert (images_dir(serving_core) / last["path"]).read_bytes() == data
    item = PageFiles(serving_core).lookup(last["path"])
    assert item is not None and item.content_hash == last["content_hash"]
    (images_dir(serving_core) / "uploads" / "stranger.jpg").write_bytes(jpeg_bytes(seed=5))
    assert PageFiles(serving_core).lookup("uploads/stranger.jpg") is None  # not a stored content


def test_uploads_never_follow_planted_symlinks_and_keep_one_copy(serving_core, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("do not touch")
    data = jpeg_bytes(seed=41)
    digest = hashlib.sha256(data).hexdigest()
    uploads = images_dir(serving_core) / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / f"{digest[:16]}-planted.jpg").symlink_to(outside)  # the final name
    (uploads / f".{digest[:16]}-planted.jpg.part").symlink_to(outside)  # the old, predictable temp name

    added = serving_core.add_image(data, "planted.jpg")
    assert outside.read_text() == "do not touch"
    saved = images_dir(serving_core) / added["path"]
    assert saved.is_file() and not saved.is_symlink()
    assert saved.read_bytes() == data

    again = serving_core.add_image(data, "other-name.jpg")
    assert again["created"] is False
    names = [p for p in uploads.iterdir() if p.is_file() and not p.is_symlink() and p.read_bytes() == data]
    assert len({p.stat().st_ino for p in names}) == 1, names  # one copy of the bytes...
    assert again["path_count"] == 2  # ...under both names, so the record lists both
    assert not [p for p in uploads.iterdir() if p.name.endswith(".part") and not p.is_symlink()]


def test_names_cannot_leave_the_uploads_folder(serving_core):
    for i, name in enumerate(("../../etc/passwd", "..\\..\\x.jpg", ".hidden.jpg", "", "a b/c?d.jpg")):
        added = serving_core.add_image(jpeg_bytes(seed=100 + i), name)
        rel = added["path"]
        assert rel.startswith("uploads/") and rel.count("/") == 1, rel
        assert not rel.split("/", 1)[1].split("-", 1)[1].startswith("."), rel
        assert (images_dir(serving_core) / rel).is_file()
    assert added["path"].endswith("-c_d.jpg")


def test_a_refused_image_saves_nothing(unreachable_core):
    before = upload_files(unreachable_core)
    with pytest.raises(Exception) as err:
        unreachable_core.add_image(b"GIF89a" + b"\0" * 20, "x.gif")
    assert err.value.code == "undecodable_image"  # type: ignore[attr-defined]
    assert upload_files(unreachable_core) == before


def test_store_failure_leaves_no_file_and_no_address(unreachable_core):
    with pytest.raises(StoreUnavailable) as err:
        unreachable_core.add_image(jpeg_bytes(seed=9), "a.jpg")
    assert "127.0.0.1" in err.value.detail  # the log has the address...
    assert upload_files(unreachable_core) == []  # ...and the file is gone again

    # ...the client does not: what the service answers (its API methods wrap the core like this)
    answer = json_errors(unreachable_core.add_image)(jpeg_bytes(seed=9), "a.jpg")
    body = json.loads(answer.body)
    assert answer.status_code == 503 and body == {
        "error": "store_unavailable",
        "detail": PUBLIC_DETAIL["store_unavailable"],
    }
    assert "127.0.0.1" not in body["detail"] and "http" not in body["detail"]
    assert upload_files(unreachable_core) == []


def test_store_failure_keeps_an_earlier_copy_and_removes_only_the_new_name(unreachable_core):
    data = png_bytes((10, 200, 30))
    earlier = unreachable_core.images.save_upload(data, "earlier.png", "PNG")  # saved before the outage
    with pytest.raises(StoreUnavailable):
        unreachable_core.add_image(data, "later.png")
    assert upload_files(unreachable_core) == [earlier.rel_path.split("/", 1)[1]]
    assert (images_dir(unreachable_core) / earlier.rel_path).read_bytes() == data
    unreachable_core.images.remove_upload(earlier)


def test_full_disk_is_507_without_a_part_file(serving_encoder, tiny_model_dir, small_disk, tmp_path):
    with open_core(serving_encoder, tiny_model_dir, tmp_path, images_dir=str(small_disk)) as core:
        filler = small_disk / "filler"
        disk = os.statvfs(small_disk)
        filler.write_bytes(b"\0" * (disk.f_bavail * disk.f_frsize - 20_000))  # room for a small file only
        big = jpeg_bytes(600, 400, seed=3)
        assert len(big) > 30_000
        with pytest.raises(StorageFull) as err:
            core.add_image(big, "big.jpg")
        assert (err.value.status, err.value.code) == (507, "storage_full")
        assert upload_files(core) == []
        assert core.collection_info()["count"] == 0
        filler.unlink()
        assert core.add_image(big, "big.jpg")["created"] is True  # space again: it works again
