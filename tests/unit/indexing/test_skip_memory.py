"""The skip memory: what an import passed over (and copies it found), kept beside the images."""

from __future__ import annotations

import json

from clipvec.indexing.skip_memory import FILE_NAME, SkipMemory
from clipvec.sources import FoundFile

MOVIE = FoundFile("clips/movie.mp4", 2_000_000_000, 1700000000.5)
BROKEN = FoundFile("broken.png", 1234, 1700000001.25)
COPY = FoundFile("sub/copy.jpg", 5000, 1700000002.0)
HASH = "ab" * 32


def learnt(folder, max_pixels: int = 1000) -> SkipMemory:
    memory = SkipMemory.load(folder, max_pixels)
    memory.remember(MOVIE, "not_image", "content is not an image", failed=False)
    memory.remember(BROKEN, "truncated_image", "cut short", failed=True)
    memory.remember_copy(COPY, HASH)
    return memory


def test_what_was_learnt_is_known_on_the_next_run(tmp_path):
    learnt(tmp_path).save({MOVIE.rel_path, BROKEN.rel_path, COPY.rel_path})
    again = SkipMemory.load(tmp_path, 1000)
    assert again.get(MOVIE) == ("not_image", "content is not an image", False)
    assert again.get(BROKEN) == ("truncated_image", "cut short", True)
    assert again.copy_of(COPY) == HASH
    assert again.get(COPY) is None and again.copy_of(MOVIE) is None


def test_a_file_whose_size_or_mtime_changed_is_looked_at_again(tmp_path):
    learnt(tmp_path).save({MOVIE.rel_path, BROKEN.rel_path, COPY.rel_path})
    again = SkipMemory.load(tmp_path, 1000)
    assert again.get(FoundFile(MOVIE.rel_path, MOVIE.size + 1, MOVIE.mtime)) is None
    assert again.get(FoundFile(BROKEN.rel_path, BROKEN.size, BROKEN.mtime + 1)) is None
    assert again.copy_of(FoundFile(COPY.rel_path, COPY.size, COPY.mtime + 1)) is None


def test_files_that_are_gone_are_forgotten(tmp_path):
    learnt(tmp_path).save({BROKEN.rel_path})
    again = SkipMemory.load(tmp_path, 1000)
    assert again.get(BROKEN) is not None
    assert again.get(MOVIE) is None and again.copy_of(COPY) is None
    assert set(json.loads((tmp_path / FILE_NAME).read_text())["files"]) == {BROKEN.rel_path}


def test_another_max_pixels_drops_the_memory(tmp_path):
    """max_pixels decides which images fail: a new limit looks at every file again."""
    learnt(tmp_path, max_pixels=1000).save({MOVIE.rel_path, BROKEN.rel_path, COPY.rel_path})
    other = SkipMemory.load(tmp_path, 2000)
    assert other.get(MOVIE) is None and other.get(BROKEN) is None and other.copy_of(COPY) is None
    assert SkipMemory.load(tmp_path, 1000).get(MOVIE) is not None  # the file itself was not touched


def test_a_damaged_or_foreign_file_is_ignored(tmp_path):
    for text in ("{not json", "[1, 2]", json.dumps({"version": 99, "max_pixels": 1000, "files": {}})):
        (tmp_path / FILE_NAME).write_text(text)
        memory = SkipMemory.load(tmp_path, 1000)
        assert memory.files == {} and memory.copies == {}
    wrong_types = {"version": 1, "max_pixels": 1000, "files": [1], "copies": "x"}
    (tmp_path / FILE_NAME).write_text(json.dumps(wrong_types))
    memory = SkipMemory.load(tmp_path, 1000)
    assert memory.get(MOVIE) is None and memory.copy_of(COPY) is None


def test_the_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    learnt(tmp_path).save({MOVIE.rel_path, BROKEN.rel_path, COPY.rel_path})
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]


def test_a_run_that_learnt_nothing_writes_nothing(tmp_path):
    SkipMemory.load(tmp_path, 1000).save({"a.png"})
    assert list(tmp_path.iterdir()) == []
    memory = learnt(tmp_path)
    memory.save({MOVIE.rel_path, BROKEN.rel_path, COPY.rel_path})
    again = SkipMemory.load(tmp_path, 1000)
    again.remember_copy(COPY, HASH)  # already known: nothing new
    (tmp_path / FILE_NAME).write_text("replaced")  # a rewrite would put JSON back
    again.save({MOVIE.rel_path, BROKEN.rel_path, COPY.rel_path})
    assert (tmp_path / FILE_NAME).read_text() == "replaced"


def test_a_folder_it_cannot_write_to_gets_no_memory_and_no_error(tmp_path):
    missing = tmp_path / "gone"  # the folder vanished: the temporary file cannot be created
    memory = learnt(missing)
    memory.save({MOVIE.rel_path})
    assert not missing.exists()

    (tmp_path / FILE_NAME).mkdir()  # the temporary file is written, the rename fails
    memory = learnt(tmp_path)
    memory.save({MOVIE.rel_path})
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]
    assert (tmp_path / FILE_NAME).is_dir()


def test_a_memory_without_a_place_is_never_written(tmp_path):
    memory = SkipMemory(None, 1000)  # an S3 prefix: nothing is written into the bucket
    memory.remember(MOVIE, "not_image", "x", failed=False)
    memory.save({MOVIE.rel_path})
    assert memory.get(MOVIE) == ("not_image", "x", False)


def test_heic_files_skipped_for_want_of_the_plugin_are_read_once_it_is_installed(tmp_path, monkeypatch):
    from clipvec.indexing import skip_memory

    heic = FoundFile("phone.heic", 999, 1700000003.0)
    old = FoundFile("old.heic", 998, 1700000004.0)  # remembered by a version before issue 22
    memory = SkipMemory.load(tmp_path, 1000)
    memory.remember(heic, "heic_not_enabled", "... pillow-heif ...", failed=False)
    memory.remember(
        old, "not_image", "HEIC/HEIF images need the optional 'pillow-heif' package", failed=False
    )
    memory.remember(MOVIE, "not_image", "content is not an image", failed=False)
    monkeypatch.setattr(skip_memory, "SUPPORTED_FORMATS", frozenset({"PNG"}))
    assert memory.get(heic) is not None and memory.get(old) is not None
    monkeypatch.setattr(skip_memory, "SUPPORTED_FORMATS", frozenset({"PNG", "HEIC"}))
    assert memory.get(heic) is None and memory.get(old) is None
    assert memory.get(MOVIE) is not None
