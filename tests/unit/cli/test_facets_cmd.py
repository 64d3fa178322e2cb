"""``clipvec facets`` and the search filters it lists, in this process: a real import of photos
with real EXIF blocks (Milvus Lite, shapes model), then every filter flag and both outputs.

tests/e2e/test_filters_cli.py runs each command once as a process.
"""

from __future__ import annotations

import json

from photo_corpus import write_filter_photos


def test_search_with_filters_and_facets(tmp_path, run_cli, imported_folder):
    write_filter_photos(tmp_path / "images")
    imported_folder(tmp_path / "images")

    def search(*flags: str) -> list[dict]:
        done = run_cli("search", "a red circle", "--top-k", "10", "--json", *flags)
        assert done.code == 0, done.err
        return json.loads(done.out)["hits"]

    assert sorted(h["path"] for h in search("--camera", "eos r5")) == ["canon-1.jpg", "canon-2.png"]
    assert [h["path"] for h in search("--camera", "CANON", "--sort", "taken")] == [
        "canon-2.png",
        "canon-1.jpg",
    ]
    assert [h["path"] for h in search("--taken-after", "2024-05-01")] == ["canon-1.jpg"]
    assert [h["path"] for h in search("--lens", "nikkor")] == ["nikon.jpg"]
    assert [h["path"] for h in search("--near", "48.86,2.29,5", "--format", "tiff")] == ["phone.tif"]
    assert search("--camera", "leica") == []

    people = run_cli("search", "a red circle", "--camera", "iphone")
    assert people.code == 0 and "ID: phone.tif, Score:" in people.out, people.err

    for flags, said in (
        (["--near", "48.86,2.29"], "near must be lat,lon,km"),
        (["--taken-after", "2024-13-01"], "taken_after must be an ISO date"),
        (["--min-width", "wide"], "min_width must be a number of pixels"),
    ):
        refused = run_cli("search", "a red circle", *flags)
        assert refused.code == 2 and said in refused.err, (flags, refused.err)

    facets = run_cli("facets", "--json")
    assert facets.code == 0, facets.err
    answer = json.loads(facets.out)
    assert answer["count"] == 5
    assert answer["cameras"] == [
        {"value": "Canon EOS R5", "count": 2},
        {"value": "Apple iPhone 12", "count": 1},
        {"value": "NIKON Z 6", "count": 1},
    ]
    assert answer["lenses"] == [{"value": "NIKKOR Z 50mm f/1.8 S", "count": 1}]
    assert answer["formats"] == [
        {"value": "JPEG", "count": 3},
        {"value": "PNG", "count": 1},
        {"value": "TIFF", "count": 1},
    ]
    assert answer["taken"] == {
        "first": "2023-01-01T12:00:00",
        "last": "2024-05-03T09:00:00",
        "known": 2,
        "unknown": 3,
    }
    assert answer["unknown"] == {"camera": 1, "lens": 4}

    shown = run_cli("facets")
    assert shown.code == 0 and shown.out.startswith("5 images\nCameras:\n"), shown.out
    assert "Taken: 2023-01-01T12:00:00 to 2024-05-03T09:00:00 (2 known, 3 unknown)" in shown.out
