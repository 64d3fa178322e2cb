"""Where a folder's records live in a collection: the prefix of its stored paths (issue 22.4).

Before, every folder's paths were relative to that folder: ``clipvec import ~/Pictures``
mixed ``a.jpg`` of ~/Pictures with ``a.jpg`` of ./images, the page looked for both in
./images, and a ``--prune`` of one folder dropped the other's records.
"""

from __future__ import annotations

import os

import pytest

from clipvec.serving.web.paths import requested_path
from clipvec.sources import FolderSource, absolute_root_of, folder_prefix, open_source, source_of_stored_path
from clipvec.sources.roots import root_name, root_prefix, shown_root


@pytest.fixture
def tree(tmp_path):
    """images/ (the images folder) with trips/ below it, and pics/ elsewhere; each holds a.png."""
    for folder in ("images", "images/trips", "pics"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "a.png").write_bytes(folder.encode())
    return tmp_path


def test_the_images_folder_keeps_relative_paths_and_others_are_absolute(tree):
    images = tree / "images"
    assert folder_prefix(images, images) == ""
    assert folder_prefix(images / "trips", images) == "trips/"
    assert folder_prefix(tree / "pics", images) == f"{tree.resolve()}/pics/"
    assert folder_prefix(tree / "pics", None) == ""  # no images folder given: the folder is it
    assert folder_prefix(tree / "pics" / ".." / "pics", images) == f"{tree.resolve()}/pics/"


def test_a_folder_name_that_is_not_utf8_is_escaped_as_the_files_are(tmp_path):
    odd = tmp_path / os.fsdecode(b"caf\xe9")
    odd.mkdir()
    assert folder_prefix(odd, tmp_path / "images").endswith("/caf\\xe9/")


def test_a_folder_elsewhere_scans_reads_and_owns_its_absolute_paths_only(tree):
    pics = open_source(tree / "pics", tree / "images")
    stored = f"{tree.resolve()}/pics/a.png"
    assert [f.rel_path for f in pics.scan()] == [stored]
    assert pics.read(stored) == b"pics"
    with pics.open(stored) as f:
        assert f.read() == b"pics"
    assert pics.owns(stored) and not pics.owns("a.png") and not pics.owns(f"{tree.resolve()}/pics2/a.png")
    assert pics.below(stored) == "a.png" and pics.legacy_path(stored) == "a.png"
    with pics.open_indexed(stored) as opened:
        assert opened.read_all() == b"pics"


def test_the_images_folder_never_owns_another_folders_paths(tree):
    images = open_source(tree / "images", tree / "images")
    assert images.owns("a.png") and images.owns("trips/a.png")
    assert not images.owns(f"{tree.resolve()}/pics/a.png") and not images.owns("s3://b/a.png")
    assert images.legacy_path("a.png") is None
    assert not images.serves(f"{tree.resolve()}/images/a.png")  # only its relative form is its path


def test_a_sub_folder_of_the_images_folder_stores_paths_below_the_images_folder(tree):
    trips = open_source(tree / "images" / "trips", tree / "images")
    assert [f.rel_path for f in trips.scan()] == ["trips/a.png"]
    assert trips.read("trips/a.png") == b"images/trips"
    assert trips.owns("trips/a.png") and not trips.owns("a.png")


def test_an_absolute_path_is_served_only_from_a_recorded_root(tree):
    images = FolderSource((tree / "images").resolve())
    pics = f"{tree.resolve()}/pics"
    stored = f"{pics}/a.png"
    assert source_of_stored_path(stored, images, []) is None
    assert (
        source_of_stored_path(stored, images, [".", f"{tree.resolve()}/pic"]) is None
    )  # not a folder prefix
    source = source_of_stored_path(stored, images, [".", pics])
    assert isinstance(source, FolderSource) and source.serves(stored)
    with source.open_indexed(stored) as opened:
        assert opened.read_all() == b"pics"
    assert source_of_stored_path("a.png", images, [pics]) is images


def test_a_symlink_out_of_a_recorded_root_is_not_served(tree):
    pics = f"{tree.resolve()}/pics"
    (tree / "secret.png").write_bytes(b"secret")
    os.symlink(tree / "secret.png", tree / "pics" / "link.png")
    source = source_of_stored_path(f"{pics}/link.png", FolderSource(tree / "images"), [pics])
    assert source is not None and not source.serves(f"{pics}/link.png")
    assert source.open_indexed(f"{pics}/link.png") is None


def test_the_longest_recorded_root_holds_a_path():
    roots = ["/data", "/data/photos", ".", "s3://b/data"]
    assert absolute_root_of("/data/photos/a.jpg", roots) == "/data/photos"
    assert absolute_root_of("/data/a.jpg", roots) == "/data"
    assert absolute_root_of("/elsewhere/a.jpg", roots) is None


@pytest.mark.parametrize("prefix", ["", "trips/", "/home/me/Pictures/", "s3://b/p/", "/"])
def test_root_names_round_trip(prefix):
    assert root_prefix(root_name(prefix)) == prefix


def test_roots_are_shown_as_the_user_knows_them():
    assert shown_root(".", "images") == "images"
    assert shown_root("trips", "images") == "images/trips"
    assert shown_root("/home/me/Pictures", "images") == "/home/me/Pictures"


@pytest.mark.parametrize(
    ("raw", "wanted"),
    [
        ("/home/me/Pictures/a.jpg", "/home/me/Pictures/a.jpg"),
        ("/home/me/../etc/passwd", None),
        ("//etc/passwd", None),
        ("/home/me/./a.jpg", None),
        ("/", None),
        ("/home/me/%2e%2e/x", None),
    ],
)
def test_the_page_takes_canonical_absolute_paths_only(raw, wanted):
    assert requested_path(raw) == wanted
