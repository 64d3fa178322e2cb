"""The photo filters' text forms: read once for HTTP and the CLI, bad values named in a 400."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clipvec.errors import ClipvecError
from clipvec.search.filter_params import (
    DIMENSION_DOC_PATTERN,
    FORMATS_DOC_PATTERN,
    NAME_DOC_PATTERN,
    NEAR_DOC_PATTERN,
    ORIENTATION_DOC_PATTERN,
    SORT_DOC_PATTERN,
    WHEN_DOC_PATTERN,
    parse_when,
)
from clipvec.search.options import SearchFilters, SearchOptions
from clipvec.store.meta_filter import Near

MAY_1 = 1714521600  # 2024-05-01T00:00:00 as if UTC


def parsed(**params: str) -> SearchFilters:
    return SearchFilters.from_query(params)


def refused(name: str):
    return pytest.raises(ClipvecError, match=f"^{name} must ")


def test_no_filter_params_is_no_filter():
    assert not parsed() and not parsed(camera="", near=" ", format="")
    options = SearchOptions.from_query({}, 10)
    assert not options.filters and options.sort == "score"
    assert "filters" not in options.as_kwargs()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2024-05-01", MAY_1),
        ("2024-05-01T00:00", MAY_1),
        ("2024-05-01 18:30", MAY_1 + 18 * 3600 + 1800),
        ("2024-05-01T18:30:15", MAY_1 + 18 * 3600 + 1815),
        ("2024-05-01T18:30:15.250", MAY_1 + 18 * 3600 + 1815),
        ("2024-05-01T18:30Z", MAY_1 + 18 * 3600 + 1800),
        ("2024-05-01T18:30+02:00", MAY_1 + 16 * 3600 + 1800),  # to UTC
        ("2024-05-01T01:00-05:30", MAY_1 + 6 * 3600 + 1800),
        ("0001-01-01", -62135596800),
        ("1969-12-31", -86400),
    ],
)
def test_dates(text, seconds):
    assert parsed(taken_after=text).taken_after == seconds
    assert parsed(taken_before=text).taken_before == seconds


@pytest.mark.parametrize(
    "text",
    [
        "2024-5-1",
        "2024-13-01",
        "2024-02-30",
        "0000-01-01",
        "2024-05-01T24:00",
        "2024-05-01T12",
        "yesterday",
        "2024-05-01T12:00+25:00",
        "1714521600",
        "2024-05-01\n",
        "２０２４-05-01",
        "2024-05-01T12:00:00+0200",
    ],
)
def test_bad_dates(text):
    with refused("taken_after"):
        parsed(taken_after=text)
    with refused("taken_before"):
        parsed(taken_before=text)


def test_an_empty_date_range_is_taken_as_it_is():
    """It finds nothing (Milvus answers no row), as /docs.json lets it be sent: not a 400."""
    assert parsed(taken_after="2024-05-01", taken_before="2024-05-02").taken_before == MAY_1 + 86400
    empty = parsed(taken_after="2024-05-01", taken_before="2024-05-01")
    assert empty.taken_after == empty.taken_before == MAY_1


@pytest.mark.parametrize(
    ("text", "near"),
    [
        ("48.8566,2.3522,25", Near(48.8566, 2.3522, 25.0)),
        (" -90 , 180 , 0.5 ", Near(-90.0, 180.0, 0.5)),
        ("0,-180,20038", Near(0.0, -180.0, 20038.0)),
        ("1e1,-1.5e2,1E-3", Near(10.0, -150.0, 0.001)),
    ],
)
def test_near(text, near):
    assert parsed(near=text).near == near


@pytest.mark.parametrize(
    "text",
    [
        "48.8,2.3",
        "48.8,2.3,10,1",
        "90.1,0,1",
        "0,180.5,1",
        "0,0,0",
        "0,0,-1",
        "0,0,20039",
        "nan,0,1",
        "0,inf,1",
        "0x1,0,1",
        "48,8;2,3;10",
        "0,0,1e999",
        "",
    ],
)
def test_bad_near(text):
    if not text:
        assert parsed(near=text).near is None
        return
    with refused("near"):
        parsed(near=text)


def test_names_are_trimmed_and_checked():
    assert parsed(camera="  Canon EOS R5 ", lens='50mm "%_\\').camera == "Canon EOS R5"
    assert parsed(lens='50mm "%_\\').lens == '50mm "%_\\'
    for bad in ("a\x00b", "a\nb", "a\x7fb", "a\x85b", "x" * 257):
        with refused("camera"):
            parsed(camera=bad)
        with refused("lens"):
            parsed(lens=bad)
    assert parsed(camera="x" * 256).camera == "x" * 256


def test_orientation_dimensions_and_formats():
    got = parsed(orientation="Portrait", min_width="640", min_height="0", format="jpg, heif,JPEG,png")
    assert (got.orientation, got.min_width, got.min_height) == ("portrait", 640, 0)
    assert got.formats == ("JPEG", "HEIC", "PNG")
    for name, bad in [
        ("orientation", "round"),
        ("min_width", "-1"),
        ("min_width", "1.5"),
        ("min_height", "99999999"),
        ("min_height", "٣"),
        ("format", "PDF"),
        ("format", ","),
        ("format", "JPEG;PNG"),
    ]:
        with refused(name):
            parsed(**{name: bad})


def test_sort():
    assert SearchOptions.from_query({"sort": "taken"}, 5).sort == "taken"
    assert SearchOptions.checked(5, sort="Score").sort == "score"
    with pytest.raises(ClipvecError, match="^sort must be score"):
        SearchOptions.from_query({"sort": "date"}, 5)


def test_filters_pass_to_the_store():
    options = SearchOptions.from_query({"top_k": "3", "camera": "canon", "min_width": "10"}, 10)
    assert options.as_kwargs()["filters"] == SearchFilters(camera="canon", min_width=10)
    assert options.filters.meta_terms() == ["camera"]


@pytest.mark.parametrize(
    "params",
    [
        {"taken_after": "2024-05-01T18:30+02:00", "taken_before": "2030-01-01"},
        {"camera": 'a "b" \\ %_', "lens": "ß", "near": "-33.8688,151.2093,0.25"},
        {"orientation": "square", "min_width": "1", "min_height": "7", "format": "heic,jpeg"},
    ],
)
def test_the_text_form_reads_back_to_the_same_filter(params):
    filters = parsed(**params)
    assert SearchFilters.from_query(filters.as_query()) == filters


def test_a_bad_filter_is_a_bad_parameter_error():
    with pytest.raises(ClipvecError) as caught:
        SearchOptions.from_query({"near": "north"}, 10)
    assert (caught.value.status, caught.value.code) == (400, "bad_parameter")


def test_a_time_before_year_one_in_utc_is_a_bad_parameter_not_a_crash():
    with pytest.raises(ClipvecError, match="ISO date"):
        parse_when("taken_after", "0001-01-01T00:00+01:00")  # OverflowError inside


@settings(max_examples=150, deadline=None)
@given(
    when=st.from_regex(WHEN_DOC_PATTERN, fullmatch=True),
    near=st.from_regex(NEAR_DOC_PATTERN, fullmatch=True),
    formats=st.from_regex(FORMATS_DOC_PATTERN, fullmatch=True),
    name=st.from_regex(NAME_DOC_PATTERN, fullmatch=True),
    pixels=st.from_regex(DIMENSION_DOC_PATTERN, fullmatch=True),
    orientation=st.from_regex(ORIENTATION_DOC_PATTERN, fullmatch=True),
    sort=st.from_regex(SORT_DOC_PATTERN, fullmatch=True),
)
def test_what_the_document_declares_is_always_accepted(when, near, formats, name, pixels, orientation, sort):
    """/docs.json's patterns are a part of what the parsers take (schemathesis ST202 otherwise;
    that they take no more is tests/unit/serving/test_routes.py's check)."""
    query = {
        "taken_after": when,
        "near": near,
        "format": formats,
        "camera": name,
        "min_width": pixels,
        "orientation": orientation,
        "sort": sort,
    }
    assert SearchOptions.from_query(query, 10) is not None


def test_names_are_read_in_any_ascii_case_only():
    """str.upper() makes "TIFF" of "tiﬀ" and str.lower() "taken" of Kelvin's "taKen":
    /docs.json cannot declare those, so they are refused like any other unknown name."""
    assert parsed(format="Tiff, jpg").formats == ("TIFF", "JPEG")
    assert parsed(orientation=" Portrait\t").orientation == "portrait"
    with refused("format"):
        parsed(format="ti\ufb00")
    with refused("orientation"):
        parsed(orientation="\u017fquare")  # long s
    with refused("sort"):
        SearchOptions.from_query({"sort": "ta\u212aen"}, 10)


def test_a_blank_sort_is_the_default_as_a_blank_filter_is_none():
    assert SearchOptions.from_query({"sort": " \t"}, 10).sort == "score"
    assert SearchOptions.from_query({"sort": " TAKEN "}, 10).sort == "taken"
