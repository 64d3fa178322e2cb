"""The benchmark's inputs: cached JPEG photos of a chosen size range, the model folder, the subset."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from clipvec.cli.bench import inputs
from clipvec.cli.bench.inputs import build_photos, ensure_model, size_spread

MEGAPIXELS = (0.02, 0.06)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    return build_photos(tmp_path_factory.mktemp("photos"), 3, seed=7, megapixels=MEGAPIXELS, quiet=True)


def test_photos_are_jpegs_of_the_asked_sizes(photos):
    assert [p.name.split("_")[:3] for p in photos] == [["photo", "7", f"{i:04d}"] for i in range(3)]
    sizes = []
    for path in photos:
        with Image.open(path) as img:
            assert img.format == "JPEG" and img.mode == "RGB"
            assert path.stem.endswith(f"_{img.width}x{img.height}")
            sizes.append(img.width * img.height / 1e6)
    assert sorted(round(mp, 2) for mp in sizes) == pytest.approx([0.02, 0.04, 0.06], abs=0.005)
    assert not list(photos[0].parent.glob("*.part"))


def test_a_second_call_uses_the_cache(photos, monkeypatch, capsys):
    mtimes = [p.stat().st_mtime_ns for p in photos]
    monkeypatch.setattr("skimage.data.astronaut", lambda: pytest.fail("a cached photo was drawn again"))
    again = build_photos(photos[0].parent, 3, seed=7, megapixels=MEGAPIXELS)
    assert again == photos and [p.stat().st_mtime_ns for p in again] == mtimes
    assert capsys.readouterr().err == ""  # nothing built, nothing logged


def test_the_same_seed_and_count_give_the_same_photos(photos, tmp_path):
    other = build_photos(tmp_path, 3, seed=7, megapixels=MEGAPIXELS, quiet=True)
    assert [p.name for p in other] == [p.name for p in photos]
    assert [p.read_bytes() for p in other] == [p.read_bytes() for p in photos]


def test_one_photo_is_the_middle_size_and_building_is_logged(tmp_path, capsys):
    (only,) = build_photos(tmp_path, 1, megapixels=MEGAPIXELS)
    with Image.open(only) as img:
        assert img.width * img.height / 1e6 == pytest.approx(0.04, abs=0.005)
    assert "photo 1/1:" in capsys.readouterr().err


def test_a_bench_cache_is_kept_out_of_git(tmp_path):
    build_photos(tmp_path / ".bench-cache" / "photos", 1, megapixels=MEGAPIXELS, quiet=True)
    assert (tmp_path / ".bench-cache" / ".gitignore").read_text() == "*\n"
    build_photos(tmp_path / "mine" / "photos", 1, megapixels=MEGAPIXELS, quiet=True)
    assert not (tmp_path / "mine" / ".gitignore").exists()  # someone else's folder: left alone


def test_size_spread_covers_the_range():
    paths = [Path(f"p{i}") for i in range(10)]
    mps = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0, 4.0, 10.0, 6.0]
    # the smallest (p1, 1 MP), the middle (p0, 5 MP), the largest (p8, 10 MP), in the set's order
    assert size_spread(paths, mps, 3) == [Path("p0"), Path("p1"), Path("p8")]
    assert size_spread(paths, mps, 1) == [Path("p1")]  # the smallest
    assert size_spread(paths, mps, 10) == paths
    assert size_spread(paths, mps, 50) == paths  # at most all of them
    assert size_spread(paths, mps, 0) == [Path("p1")]  # at least one
    picked = size_spread(paths, mps, 4)
    assert len(picked) == 4 and picked == sorted(picked, key=paths.index)  # in the set's order


def test_ensure_model_writes_once(tmp_path, monkeypatch):
    written: list[tuple[Path, str]] = []

    def fake_make(folder: Path, size: str) -> None:
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"w")
        written.append((folder, size))

    monkeypatch.setattr("clipvec.model.factory.make_random_model", fake_make)
    target = tmp_path / "vit-b-32-random"
    assert ensure_model(target, quiet=True) == target
    assert written == [(tmp_path / "vit-b-32-random.partial", "base")]  # written aside, then renamed
    assert (target / "model.safetensors").exists() and not written[0][0].exists()
    assert ensure_model(target) == target and len(written) == 1


def test_the_photo_sources_ship_with_scikit_image():
    from skimage import data

    assert all(callable(getattr(data, name)) for name in inputs.PHOTO_SOURCES)
