"""Which paths a page URL may ask for (``clipvec.serving.web.paths``)."""

from __future__ import annotations

import pytest

from clipvec.serving.web.paths import canonical_rel_path, requested_path


@pytest.mark.parametrize(
    "value",
    [
        "",
        ".",
        "..",
        "../a.png",
        "a/../b.png",
        "a/./b.png",
        "a//b.png",
        "/a.png",
        "a.png/",
        "a\\b.png",
        "a\x00.png",
        "a\nb.png",
        "%2e%2e/a.png",
        "%252e%252e%252fa.png",
        "a%2f..%2f..%2fb.png",
        "x" * 5000,
    ],
)
def test_canonical_rel_path_refuses(value):
    assert canonical_rel_path(value) is None


@pytest.mark.parametrize(
    "value", ["a.png", "uploads/0123-red_circle_1.png", "2023/holiday/b%20c.jpg", "ünï/çødé.jpg"]
)
def test_canonical_rel_path_accepts(value):
    assert canonical_rel_path(value) == value


def test_s3_paths_are_bounded_and_free_of_control_characters():
    assert requested_path("s3://photos/a b/c.jpg") == "s3://photos/a b/c.jpg"
    assert requested_path("s3://photos/a\nb.jpg") is None
    assert requested_path("s3://photos/" + "x" * 5000) is None
    assert requested_path(None) is None and requested_path("") is None
