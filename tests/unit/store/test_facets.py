"""Facets: counting the scanned columns, and when a kept summary is read again."""

from __future__ import annotations

from clipvec.store.facets import MAX_AGE, FacetCount, Summary, summarise, unknown_keys_filter
from clipvec.store.records import TAKEN_UNKNOWN


def row(make="", model="", lens="", fmt="JPEG", taken=TAKEN_UNKNOWN):
    camera = f"{make} {model}".strip()
    return {
        "camera_make": make,
        "camera_model": model,
        "lens": lens,
        "camera_key": camera.casefold(),
        "lens_key": lens.casefold(),
        "format": fmt,
        "taken": taken,
    }


ROWS = [
    row("Canon", "Canon EOS R5", "RF24-105mm", taken=300),
    row("Canon", "Canon EOS R5", "RF24-105mm", fmt="HEIC", taken=100),
    row("CANON", "CANON EOS R5", taken=200),  # the same camera, another spelling
    row("Apple", "iPhone 12", fmt="HEIC"),
    row(fmt="PNG"),
]


def test_summarise_counts_by_key_and_names_by_the_common_spelling():
    facets = summarise(ROWS, has_meta=True)
    assert facets.total == 5
    assert facets.cameras == (FacetCount("Canon EOS R5", 3), FacetCount("Apple iPhone 12", 1))
    assert facets.lenses == (FacetCount("RF24-105mm", 2),)
    assert facets.formats == (FacetCount("HEIC", 2), FacetCount("JPEG", 2), FacetCount("PNG", 1))
    assert (facets.taken_first, facets.taken_last, facets.taken_known) == (100, 300, 3)
    assert (facets.camera_unknown, facets.lens_unknown) == (1, 3)
    assert facets.keys["camera_key"] == {"canon canon eos r5", "apple iphone 12"}
    assert facets.keys["lens_key"] == {"rf24-105mm"}


def test_summarise_a_version_1_collection_has_formats_only():
    facets = summarise([{"format": "JPEG"}, {"format": "PNG"}, {"format": "JPEG"}], has_meta=False)
    assert facets.formats == (FacetCount("JPEG", 2), FacetCount("PNG", 1))
    assert (facets.cameras, facets.taken_first, facets.has_meta) == ((), None, False)


def test_unknown_keys_filter():
    assert unknown_keys_filter("lens_key", []) == 'lens_key != ""'
    assert (
        unknown_keys_filter("lens_key", ["b", "", 'a"']) == 'lens_key != "" and lens_key not in ["a\\"", "b"]'
    )


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def make_summary(rows, counts):
    scans = []

    def scan(fields):
        scans.append(fields)
        return iter(list(rows))

    clock = Clock()
    summary = Summary(scan, lambda expr: counts.get(expr, counts.get("*", 0)), has_meta=True, clock=clock)
    return summary, scans, clock


def test_facets_are_kept_while_the_count_holds_and_not_too_old():
    rows = list(ROWS)
    counts = {'content_hash != ""': 5}
    summary, scans, clock = make_summary(rows, counts)
    assert summary.facets().total == 5 and len(scans) == 1
    assert summary.facets().total == 5 and len(scans) == 1
    counts['content_hash != ""'] = 6
    rows.append(row(fmt="GIF"))
    assert summary.facets().total == 6 and len(scans) == 2
    clock.now += MAX_AGE + 1
    summary.facets()
    assert len(scans) == 3
    summary.forget()
    summary.facets()
    assert len(scans) == 4


def test_keys_are_read_again_when_a_stored_key_is_not_known():
    rows = list(ROWS)
    counts = {"*": 0}
    summary, scans, _ = make_summary(rows, counts)
    assert "apple iphone 12" in summary.keys("camera_key") and len(scans) == 1
    summary.keys("camera_key")
    assert len(scans) == 1  # nothing unknown stored: no second read
    rows.append(row("Leica", "Q2"))
    counts["*"] = 1  # the not-in count now finds the new key
    assert "leica q2" in summary.keys("camera_key") and len(scans) == 2
