"""Search options, checked the same way for the CLI flags and the HTTP query string."""

from __future__ import annotations

import math

import pytest

from clipvec.errors import ClipvecError
from clipvec.search.options import SearchOptions

TOP_K = "top_k must be between 1 and 1000"
DIGITS = "top_k must be plain digits, e.g. top_k=10"
MIN_SCORE = "min_score must be a finite number, e.g. min_score=0.25"
PREFIX = "path_prefix must be a path of at most 1024 characters, without control characters"


def refused(detail: str):
    return pytest.raises(ClipvecError, match="^" + detail.replace(".", r"\.") + "$")


@pytest.mark.parametrize(
    ("top_k", "min_score", "path_prefix", "expected"),
    [
        (1, None, None, (1, None, None)),
        (1000, -1.5, "a/", (1000, -1.5, "a/")),
        (10, 0.0, "", (10, 0.0, None)),  # an empty prefix is no prefix
        (10, 1e300, "x" * 1024, (10, 1e300, "x" * 1024)),
        (10, None, "photos 2024/été/ ~", (10, None, "photos 2024/été/ ~")),
    ],
)
def test_accepted_options(top_k, min_score, path_prefix, expected):
    options = SearchOptions.checked(top_k, min_score, path_prefix)
    assert (options.top_k, options.min_score, options.path_prefix) == expected
    assert options.as_kwargs() == dict(zip(("top_k", "min_score", "path_prefix"), expected, strict=True))


@pytest.mark.parametrize(
    ("args", "detail"),
    [
        ((0,), TOP_K),
        ((-3,), TOP_K),
        ((1001,), TOP_K),
        ((10, math.nan), MIN_SCORE),
        ((10, math.inf), MIN_SCORE),
        ((10, -math.inf), MIN_SCORE),
        ((10, None, "x" * 1025), PREFIX),
        ((10, None, "a/\nb"), PREFIX),
        ((10, None, "a\x00"), PREFIX),
        ((10, None, "\x1f"), PREFIX),
        ((10, None, "a\x7f"), PREFIX),
        ((0, math.nan, "\n"), TOP_K),  # the first bad one is named
    ],
)
def test_refused_options(args, detail):
    with refused(detail) as caught:
        SearchOptions.checked(*args)
    assert (caught.value.code, caught.value.status) == ("bad_parameter", 400)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, (7, None, None)),
        ({"top_k": "5"}, (5, None, None)),
        ({"top_k": "05"}, (5, None, None)),
        ({"top_k": "1000"}, (1000, None, None)),
        ({"min_score": "0.25"}, (7, 0.25, None)),
        ({"min_score": "-1"}, (7, -1.0, None)),
        ({"min_score": "+.5"}, (7, 0.5, None)),
        ({"min_score": "5."}, (7, 5.0, None)),
        ({"min_score": "1e-3"}, (7, 0.001, None)),
        ({"min_score": "2E+2"}, (7, 200.0, None)),
        ({"path_prefix": ""}, (7, None, None)),
        ({"path_prefix": "holiday/"}, (7, None, "holiday/")),
        ({"top_k": "3", "min_score": "0.2", "path_prefix": "a/"}, (3, 0.2, "a/")),
    ],
)
def test_query_strings_accepted(query, expected):
    options = SearchOptions.from_query(query, default_top_k=7)
    assert (options.top_k, options.min_score, options.path_prefix) == expected


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ({"top_k": " 5"}, DIGITS),
        ({"top_k": "5 "}, DIGITS),
        ({"top_k": "+5"}, DIGITS),
        ({"top_k": "-5"}, DIGITS),
        ({"top_k": "5_0"}, DIGITS),
        ({"top_k": "\uff15"}, DIGITS),  # a full-width 5: int() would take it
        ({"top_k": "5.0"}, DIGITS),
        ({"top_k": ""}, DIGITS),
        ({"top_k": "12345678"}, DIGITS),
        ({"top_k": "0"}, TOP_K),
        ({"top_k": "1001"}, TOP_K),
        ({"top_k": "9999999"}, TOP_K),
        ({"min_score": "nan"}, MIN_SCORE),
        ({"min_score": "inf"}, MIN_SCORE),
        ({"min_score": "-Infinity"}, MIN_SCORE),
        ({"min_score": "1e999"}, MIN_SCORE),  # a number, but not a finite one
        ({"min_score": "1e1000"}, MIN_SCORE),
        ({"min_score": ""}, MIN_SCORE),
        ({"min_score": " 0.2"}, MIN_SCORE),
        ({"min_score": "0x10"}, MIN_SCORE),
        ({"min_score": "1_0"}, MIN_SCORE),
        ({"min_score": "."}, MIN_SCORE),
        ({"path_prefix": "a\tb"}, PREFIX),
    ],
)
def test_query_strings_refused(query, detail):
    with refused(detail) as caught:
        SearchOptions.from_query(query, default_top_k=7)
    assert caught.value.code == "bad_parameter"


def test_the_default_top_k_is_checked_too():
    with refused(TOP_K):
        SearchOptions.from_query({}, default_top_k=2000)


HASH = "0123456789abcdef" * 4


def test_exclude_is_a_whole_content_hash():
    """``exclude`` ("more like this" leaves out its example, issue 22.10) names one record exactly."""
    assert SearchOptions.from_query({"exclude": HASH}, default_top_k=7).exclude == HASH
    assert SearchOptions.checked(3, exclude=HASH).as_kwargs()["exclude"] == HASH
    assert SearchOptions.from_query({"exclude": ""}, default_top_k=7).exclude is None
    assert "exclude" not in SearchOptions.checked(3).as_kwargs()
    for bad in (HASH[:16], HASH.upper(), HASH + "0", HASH[:-1] + "g", '" or content_hash != "'):
        with pytest.raises(ClipvecError, match="^exclude must be a content_hash") as caught:
            SearchOptions.from_query({"exclude": bad}, default_top_k=7)
        assert caught.value.status == 400
