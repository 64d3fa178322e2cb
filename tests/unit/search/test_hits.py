"""Hits as printed by ``clipvec search`` (the seed script's lines) and as JSON answers."""

from __future__ import annotations

import dataclasses

from clipvec.images.photo_meta import PhotoMeta
from clipvec.search.hits import HIT_PATHS_SHOWN, format_hits, hit_json, metric_line
from clipvec.store import Hit


def hit(path: str, score: float, paths: list[str] | None = None) -> Hit:
    return Hit(path, paths or [path], score, "h" * 64, 1234, 640, 480, "JPEG")


def test_lines_have_the_seed_scripts_shape():
    hits = [hit("image1.jpg", 0.3149), hit("sub/image 2.png", 0.305001), hit("x.gif", -0.0412)]
    assert format_hits(hits) == [
        "ID: image1.jpg, Score: 0.31",
        "ID: sub/image 2.png, Score: 0.31",
        "ID: x.gif, Score: -0.04",
    ]
    assert format_hits([]) == []


def test_json_lists_the_first_paths_and_how_many_there_are():
    paths = [f"copy{i}.jpg" for i in range(8)]
    answer = hit_json(hit("copy0.jpg", 0.5, paths))
    assert answer == {
        "path": "copy0.jpg",
        "paths": paths[:5],
        "path_count": 8,
        "score": 0.5,
        "content_hash": "h" * 64,
        "size": 1234,
        "width": 640,
        "height": 480,
        "format": "JPEG",
        "taken": None,
        "camera": "",
        "lens": "",
        "lat": None,
        "lon": None,
    }
    assert list(answer) == [  # the order of the JSON answer's keys
        "path",
        "paths",
        "score",
        "content_hash",
        "size",
        "width",
        "height",
        "format",
        "path_count",
        "taken",
        "camera",
        "lens",
        "lat",
        "lon",
    ]
    assert len(answer["paths"]) == HIT_PATHS_SHOWN
    one = hit_json(hit("a.jpg", 0.1))
    assert (one["paths"], one["path_count"]) == (["a.jpg"], 1)


def test_json_shows_the_photos_metadata_not_the_stored_form():
    meta = PhotoMeta(1714557600, 120, "Canon", "Canon EOS R5", "RF24-105mm F4 L IS USM", 48.85, 2.35)
    answer = hit_json(dataclasses.replace(hit("a.jpg", 0.1), meta=meta))
    assert answer["taken"] == "2024-05-01T12:00:00+02:00"  # true UTC 10:00, shown in its own zone
    assert (answer["camera"], answer["lens"]) == ("Canon EOS R5", "RF24-105mm F4 L IS USM")
    assert (answer["lat"], answer["lon"]) == (48.85, 2.35) and "meta" not in answer
    wall_clock = dataclasses.replace(hit("b.jpg", 0.1), meta=PhotoMeta(taken=1714564800, camera_make="NIKON"))
    assert hit_json(wall_clock)["taken"] == "2024-05-01T12:00:00"  # no offset recorded: none shown
    assert hit_json(wall_clock)["camera"] == "NIKON"
    assert PhotoMeta(camera_make="NIKON CORPORATION", camera_model="NIKON Z 6").camera == "NIKON Z 6"
    assert PhotoMeta(camera_make="Apple", camera_model="iPhone 13").camera == "Apple iPhone 13"
    assert PhotoMeta(camera_model="X100V").camera == "X100V"


def test_the_metric_line_says_which_way_is_better():
    assert metric_line("COSINE", True) == (
        "Using COSINE (cosine similarity) for search; higher scores are closer matches."
    )
    assert (
        metric_line("L2", False)
        == "Using L2 (Euclidean distance) for search; lower scores are closer matches."
    )
    assert metric_line("IP", True) == "Using IP (inner product) for search; higher scores are closer matches."
    assert metric_line("HAMMING", False) == "Using HAMMING for search; lower scores are closer matches."
