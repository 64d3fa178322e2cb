"""``PageFiles``: indexed files found through the collection, read through their source, thumbnailed.

(clipvec.serving.web.files; the HTTP answers around it are in test_page_app.py.)
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from PIL import Image
from serving_fixtures import jpeg_bytes, open_core, png_bytes

from clipvec.errors import StoreUnavailable
from clipvec.serving.web.files import PageFiles, open_indexed


@pytest.fixture(scope="module")
def files(serving_core) -> PageFiles:
    return PageFiles(serving_core)


@pytest.fixture(scope="module")
def indexed(serving_core) -> dict:
    return serving_core.add_image(jpeg_bytes(600, 300, seed=5), "wide.jpg")


def test_lookup_finds_exactly_the_stored_paths(files, indexed, serving_core):
    item = files.lookup(indexed["path"])
    assert item is not None
    assert (item.rel, item.content_hash, item.source) == (
        indexed["path"],
        indexed["content_hash"],
        serving_core.images,
    )
    for refused in (None, "", "../x", "/" + indexed["path"], indexed["path"].upper(), "uploads/nothing.png"):
        assert files.lookup(refused) is None, refused


def test_lookup_needs_the_file_to_be_served_by_its_source(files, serving_core, tmp_path):
    added = serving_core.add_image(png_bytes((5, 6, 7)), "moved.png")
    real = Path(serving_core.settings.images_dir) / added["path"]
    assert files.lookup(added["path"]) is not None
    (tmp_path / "moved.png").write_bytes(real.read_bytes())
    real.unlink()
    gone = files.lookup(added["path"])  # still in the collection; the read finds nothing (a 404)
    assert gone is not None and open_indexed(gone) is None
    real.symlink_to(tmp_path / "moved.png")
    assert files.lookup(added["path"]) is None  # a symlink out of the folder
    real.unlink()
    real.write_bytes(b"back")
    with open_indexed(files.lookup(added["path"]))[0] as back:
        assert back.read_all() == b"back"


def test_lookup_asks_the_store_and_says_when_it_cannot(unreachable_core):
    with pytest.raises(StoreUnavailable):
        PageFiles(unreachable_core).lookup("uploads/a.png")
    assert PageFiles(unreachable_core).lookup("../a.png") is None  # refused before the store is asked


def test_open_indexed_gives_the_file_and_a_version_etag(files, indexed, serving_core):
    item = files.lookup(indexed["path"])
    opened, etag = open_indexed(item)
    with opened:
        data = opened.read_all()
    real = Path(serving_core.settings.images_dir) / indexed["path"]
    assert data == real.read_bytes()
    st = real.stat()
    assert etag == f'"f{st.st_size:x}-{st.st_mtime_ns:x}"'


def test_cache_keys():
    digest = "AB" * 32
    assert PageFiles.cache_key(digest, "t256") == "ab" * 32 + "-t256"
    odd = "not/a hash"
    assert PageFiles.cache_key(odd, "v2048") == hashlib.sha256(odd.encode()).hexdigest() + "-v2048"


def test_renditions_are_jpegs_within_the_size_and_cached(files, indexed, serving_core):
    item = files.lookup(indexed["path"])
    key = files.cache_key(item.content_hash, "t128")
    jpeg = files.rendition(item, 128, key)
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG" and image.size == (128, 64)
    cached = Path(serving_core.settings.images_dir) / ".thumbs" / key[:2] / f"{key}.jpg"
    assert files.cache_dir() == Path(serving_core.settings.images_dir) / ".thumbs"
    assert cached.read_bytes() == jpeg
    assert not [p for p in cached.parent.iterdir() if p.name.endswith(".part")]
    cached.write_bytes(b"from the cache")
    assert files.rendition(item, 128, key) == b"from the cache"  # read from disk, not made again
    cached.unlink()
    small = files.rendition(item, 2048, files.cache_key(item.content_hash, "v2048"))
    assert Image.open(io.BytesIO(small)).size == (600, 300)  # never scaled up


def test_an_indexed_file_that_no_longer_decodes_has_no_rendition(files, serving_core):
    added = serving_core.add_image(png_bytes((1, 1, 1)), "broken.png")
    real = Path(serving_core.settings.images_dir) / added["path"]
    real.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    item = files.lookup(added["path"])
    assert files.rendition(item, 128, files.cache_key(item.content_hash, "t128")) is None


def test_the_cache_folder_setting_and_fallbacks(serving_encoder, tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with open_core(
        serving_encoder, tiny_model_dir, tmp_path / "a", thumb_dir=str(tmp_path / "thumbs")
    ) as core:
        assert PageFiles(core).cache_dir() == tmp_path / "thumbs"
    (tmp_path / "b" / "images").mkdir(parents=True)
    (tmp_path / "b" / "images" / ".thumbs").write_text("a file where the folder would go")
    with open_core(serving_encoder, tiny_model_dir, tmp_path / "b") as core:
        assert PageFiles(core).cache_dir() == tmp_path / "xdg" / "clipvec" / "thumbs"
    (tmp_path / "blocker").write_text("")
    with open_core(
        serving_encoder, tiny_model_dir, tmp_path / "c", thumb_dir=str(tmp_path / "blocker" / "t")
    ) as core:
        files = PageFiles(core)
        assert files.cache_dir() is None  # no cache: renditions are made on every request
        added = core.add_image(png_bytes((9, 9, 9)), "x.png")
        item = files.lookup(added["path"])
        assert Image.open(io.BytesIO(files.rendition(item, 128, "k-t128"))).format == "JPEG"
    assert not os.listdir(tmp_path / "xdg" / "clipvec" / "thumbs")
