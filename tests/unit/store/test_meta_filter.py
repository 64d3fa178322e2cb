"""The photo filter compiled into one Milvus expression: each term, their sum, hostile names."""

from __future__ import annotations

import pytest

from clipvec.images.photo_meta import PhotoMeta
from clipvec.store.meta_filter import MetaFilter, Near, all_of, compile_filter, key_term
from clipvec.store.records import TAKEN_UNKNOWN, Hit

KEYS = {
    "camera_key": {"canon canon eos r5", "apple iphone 12", 'we"ird\\cam%_x', "nikon corporation nikon d850"},
    "lens_key": {"rf24-105mm f4 l is usm", "ef 50mm f/1.8 stm"},
}


def keys(field_name: str):
    return KEYS[field_name]


def no_keys(field_name: str):
    raise AssertionError(f"keys({field_name!r}) asked without a camera or lens term")


def hit(lat=None, lon=None) -> Hit:
    return Hit("p", ["p"], 0.5, "h" * 64, 1, 10, 10, "JPEG", meta=PhotoMeta(lat=lat, lon=lon))


def test_the_empty_filter_is_false_and_compiles_to_nothing():
    spec = MetaFilter()
    assert not spec and spec.meta_terms() == []
    compiled = compile_filter(spec, no_keys)
    assert (compiled.expr, compiled.check, compiled.nothing) == ("", None, False)


@pytest.mark.parametrize(
    ("spec", "expr"),
    [
        (MetaFilter(taken_after=1714521600), "taken >= 1714521600"),
        (MetaFilter(taken_before=1714521600), f"(taken > {TAKEN_UNKNOWN}) and (taken < 1714521600)"),
        (MetaFilter(taken_after=-100, taken_before=100), "(taken >= -100) and (taken < 100)"),
        (MetaFilter(orientation="landscape"), "width > height"),
        (MetaFilter(orientation="portrait"), "width < height"),
        (MetaFilter(orientation="square"), "width == height"),
        (MetaFilter(min_width=640), "width >= 640"),
        (MetaFilter(min_height=480, min_width=1), "(width >= 1) and (height >= 480)"),
        (MetaFilter(formats=("JPEG", "HEIC")), 'format in ["JPEG", "HEIC"]'),
    ],
)
def test_each_term(spec, expr):
    assert spec
    compiled = compile_filter(spec, no_keys)
    assert (compiled.expr, compiled.check, compiled.nothing) == (expr, None, False)


def test_taken_before_alone_leaves_out_unknown_dates():
    assert f"taken > {TAKEN_UNKNOWN}" in compile_filter(MetaFilter(taken_before=0), no_keys).expr
    assert MetaFilter(taken_before=0).meta_terms() == ["taken_before"]


@pytest.mark.parametrize(
    ("camera", "matching"),
    [
        ("EOS", ["canon canon eos r5"]),
        ("Canon EOS R5", ["canon canon eos r5"]),  # the facet's name for it
        ("nikon", ["nikon corporation nikon d850"]),
        ("iPhone 12", ["apple iphone 12"]),
        ("n", ["canon canon eos r5", "nikon corporation nikon d850", "apple iphone 12"]),
        ("%", ['we"ird\\cam%_x']),  # no wildcard: the character itself
        ("_", ['we"ird\\cam%_x']),
        ('"IRD\\', ['we"ird\\cam%_x']),
    ],
)
def test_camera_is_a_case_insensitive_part_of_make_and_model(camera, matching):
    compiled = compile_filter(MetaFilter(camera=camera), keys)
    listed = ", ".join('"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"' for k in sorted(matching))
    assert compiled.expr == f"camera_key in [{listed}]"


def test_hostile_camera_is_written_as_a_safe_literal():
    compiled = compile_filter(MetaFilter(camera='"'), keys)
    assert compiled.expr == 'camera_key in ["we\\"ird\\\\cam%_x"]'


def test_a_camera_no_record_has_matches_nothing_without_a_search():
    compiled = compile_filter(MetaFilter(camera="leica", min_width=5), keys)
    assert compiled.nothing
    assert compile_filter(MetaFilter(lens="sigma"), keys).nothing


def test_a_key_with_a_control_character_is_never_written():
    compiled = compile_filter(MetaFilter(camera="cam"), lambda _f: {"cam\nx", "cam y"})
    assert compiled.expr == 'camera_key in ["cam y"]'


def test_lens_uses_its_own_key():
    assert compile_filter(MetaFilter(lens="50MM"), keys).expr == 'lens_key in ["ef 50mm f/1.8 stm"]'


def test_near_is_a_box_in_the_filter_and_the_exact_distance_on_the_hits():
    compiled = compile_filter(MetaFilter(near=Near(48.8566, 2.3522, 10.0)), no_keys)
    assert compiled.expr.startswith("lat >= 48.76") and "lon >= 2.2" in compiled.expr
    assert " or " not in compiled.expr
    assert compiled.check is not None
    assert compiled.check(hit(48.8566, 2.3522)) and compiled.check(hit(48.9, 2.4))
    assert not compiled.check(hit(48.8566 + 0.0895, 2.3522 + 0.1355))  # in the box's corner, ~14 km away
    assert not compiled.check(hit())  # unknown place


def test_near_across_the_antimeridian_has_two_longitude_ranges():
    expr = compile_filter(MetaFilter(near=Near(-16.5, 179.95, 30.0)), no_keys).expr
    assert "(lon >= 179.66" in expr and "lon <= 180.0)" in expr
    assert "(lon >= -180.0 and lon <= -179.76" in expr and " or " in expr


def test_near_at_a_pole_has_no_longitude_term():
    expr = compile_filter(MetaFilter(near=Near(89.99, 0.0, 50.0)), no_keys).expr
    assert "lon" not in expr and "lat <= 90.0" in expr


def test_everything_together_is_one_conjunction():
    spec = MetaFilter(
        taken_after=0,
        taken_before=10,
        camera="canon",
        lens="rf",
        near=Near(0.0, 0.0, 1.0),
        orientation="square",
        min_width=2,
        min_height=3,
        formats=("PNG",),
    )
    assert spec.meta_terms() == ["taken_after", "taken_before", "camera", "lens", "near"]
    compiled = compile_filter(spec, keys)
    assert compiled.expr.count(") and (") == 8
    assert compiled.expr.startswith("(taken >= 0) and (taken < 10) and (camera_key in")


def test_all_of():
    assert all_of([]) == "" and all_of(["", "a"]) == "a"
    assert all_of(["a or b", "", "c"]) == "(a or b) and (c)"


def test_key_term_lists_only_matching_keys_in_order():
    assert key_term("lens_key", "X", ["b x", "a x", "c"]) == 'lens_key in ["a x", "b x"]'
    assert key_term("lens_key", "z", ["a"]) is None
