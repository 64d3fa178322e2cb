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
        "a\\b.png",  # a single backslash: the importer stores a backslash as "\\\\"
        "a\\\\\\b.png",  # three: not an escape the importer writes
        "a\\xFF.png",  # escapes are lower-case hex
        "a\\x41.png",  # and only for bytes that are not UTF-8 (0x80-0xff)
        "a\udcff.png",  # the undecodable byte itself, not its stored text
        "a\x00.png",
        "%2e%2e/a.png",
        "..%5c..%5cetc%5cpasswd",  # a second decoder that splits on backslashes
        "a%5c%2e%2e%5cb.png",
        "%252e%252e%252fa.png",
        "a%2f..%2f..%2fb.png",
        "x" * 5000,
    ],
)
def test_canonical_rel_path_refuses(value):
    assert canonical_rel_path(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "a.png",
        "uploads/0123-red_circle_1.png",
        "2023/holiday/b%20c.jpg",
        "ünï/çødé.jpg",
        # every form a stored name takes (issue 21.10): the importer's escapes, control
        # characters, URL-special characters, leading dashes and dots that are not "."/".."
        "back\\\\slash.png",
        "not-utf8-\\xff\\xfe.png",
        "a\\\\x41.png",  # the name "a\x41.png": an escaped backslash, then "x41"
        "new\nline.png",
        "\nleading.png",
        "tab\there/bell\x07.png",
        "del\x7f.png",
        "space # question? 100% a+b&c=d.png",
        "percent-%2e%2e.png",
        "-leading-dash.png",
        "..foo.png",
        "a/...png",
        "😀/写真.png",
    ],
)
def test_canonical_rel_path_accepts(value):
    assert canonical_rel_path(value) == value


def test_s3_paths_are_bounded_and_free_of_nul():
    assert requested_path("s3://photos/a b/c.jpg") == "s3://photos/a b/c.jpg"
    assert requested_path("s3://photos/a\nb.jpg") == "s3://photos/a\nb.jpg"  # S3 keys may hold one
    assert requested_path("s3://photos/a\x00b.jpg") is None
    assert requested_path("s3://photos/" + "x" * 5000) is None
    assert requested_path(None) is None and requested_path("") is None
