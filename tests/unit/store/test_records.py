"""Records and hits: the row a record becomes, the checks before it is sent, hits read back."""

from __future__ import annotations

import dataclasses
import logging
import math
from types import SimpleNamespace

import numpy as np
import pytest

from clipvec.store import clamp_score
from clipvec.store.records import (
    FORMAT_MAX_LEN,
    PATH_MAX_LEN,
    PATHS_KEPT,
    PK_MAX_LEN,
    SCORE_RANGES,
    Hit,
    ImageRecord,
    from_row,
    higher_is_better,
    parse_hit,
    row_bytes,
    to_row,
)

DIM = 4


def record(**changes) -> ImageRecord:
    base = ImageRecord(
        "abc", ["a/1.jpg", "b/1.jpg"], 123, 1.5, 640, 480, "JPEG", np.arange(DIM, dtype=np.float64)
    )
    return dataclasses.replace(base, **changes)


# ---------------------------------------------------------------------- record -> row
def test_row_holds_every_field_and_the_model():
    row = to_row(record(), dim=DIM, model_name="m/clip", version=1)  # version 2: test_meta_columns
    assert {k: v for k, v in row.items() if k != "vector"} == {
        "content_hash": "abc",
        "path": "a/1.jpg",
        "paths": ["a/1.jpg", "b/1.jpg"],
        "size": 123,
        "mtime": 1.5,
        "width": 640,
        "height": 480,
        "format": "JPEG",
        "model": "m/clip",
    }
    assert row["vector"].dtype == np.float32 and row["vector"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_row_normalises_what_it_can():
    odd = record(paths="one.png", mtime=math.nan, format=None, vector=[[1, 2], [3, 4]])
    row = to_row(odd, dim=DIM, model_name="m")
    assert row["paths"] == ["one.png"] and row["path"] == "one.png"  # a single string is one path
    assert row["mtime"] == 0.0 and row["format"] == ""
    assert row["vector"].shape == (DIM,)
    assert to_row(record(mtime=math.inf), dim=DIM, model_name="m")["mtime"] == 0.0


def test_row_keeps_the_first_paths_only(caplog):
    paths = [f"copy{i}.png" for i in range(PATHS_KEPT + 50)]
    with caplog.at_level(logging.WARNING, logger="clipvec.store"):
        row = to_row(record(paths=paths), dim=DIM, model_name="m")
    assert row["paths"] == paths[:PATHS_KEPT]
    assert f"has {PATHS_KEPT + 50} paths; keeping the first {PATHS_KEPT}" in caplog.text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"content_hash": ""}, "content_hash must be a non-empty string of at most 64 bytes"),
        ({"content_hash": "x" * (PK_MAX_LEN + 1)}, "content_hash"),
        ({"content_hash": "é" * 33}, "content_hash"),  # 66 bytes
        ({"content_hash": "ab\ncd"}, "content_hash"),  # could not be written in a filter
        ({"content_hash": 12}, "content_hash"),
        ({"paths": []}, "record abc has no path"),
        ({"paths": ["ok", "x" * (PATH_MAX_LEN + 1)]}, "path longer than 65535 bytes"),
        ({"vector": None}, "record abc has no vector"),
        ({"vector": np.ones(DIM + 1)}, "vector has 5 dimensions, the collection 4"),
        ({"vector": np.array([1.0, math.nan, 0, 0])}, "NaN or infinite"),
        ({"vector": np.array([1.0, math.inf, 0, 0])}, "NaN or infinite"),
        ({"format": "F" * (FORMAT_MAX_LEN + 1)}, "format name too long"),
    ],
)
def test_bad_records_are_refused_before_sending(changes, message):
    with pytest.raises(ValueError) as err:
        to_row(record(**changes), dim=DIM, model_name="m")
    assert message in str(err.value)


def test_a_path_at_the_byte_limit_is_fine():
    longest = "ä" * (PATH_MAX_LEN // 2)  # 65534 bytes
    assert to_row(record(paths=[longest]), dim=DIM, model_name="m")["path"] == longest


def test_row_bytes_grows_with_dim_and_paths():
    row = to_row(record(), dim=DIM, model_name="m")
    assert row_bytes(row, DIM) == 4 * DIM + (7 + 8) * 2 + 7 + 160
    assert row_bytes(row, 512) - row_bytes(row, DIM) == 4 * (512 - DIM)


# ---------------------------------------------------------------------- row -> record
def test_record_from_a_row_with_and_without_vectors():
    row = {**to_row(record(), dim=DIM, model_name="m"), "vector": [0.5, 1, 2, 3]}
    back = from_row(row, with_vectors=True)
    assert back.vector.dtype == np.float32 and back.vector.tolist() == [0.5, 1, 2, 3]
    assert dataclasses.replace(back, vector=None) == record(vector=None)
    assert from_row(row, with_vectors=False).vector is None


def test_a_row_without_paths_takes_its_one_path():
    back = from_row({"content_hash": "k", "path": "only.png"}, with_vectors=True)
    assert back.paths == ["only.png"] and back.path == "only.png"
    assert (back.size, back.mtime, back.width, back.height) == (0, 0.0, 0, 0)
    assert back.format == "" and back.vector is None
    assert from_row({"content_hash": "k", "path": "p", "paths": []}, False).paths == ["p"]
    assert ImageRecord("k", [], 0, 0, 0, 0, "").path == ""


# ---------------------------------------------------------------------- hits
ENTITY = {"path": "a.jpg", "paths": ["a.jpg", "b.jpg"], "size": 9, "width": 3, "height": 2, "format": "PNG"}


def test_hit_from_the_pymilvus_dict_shape():
    hit = parse_hit({"id": "abc", "distance": 0.25, "entity": ENTITY}, "COSINE")
    assert hit == Hit("a.jpg", ["a.jpg", "b.jpg"], 0.25, "abc", 9, 3, 2, "PNG")


def test_hit_from_attributes_and_top_level_fields():
    as_attributes = SimpleNamespace(id="abc", distance=0.5, entity=ENTITY)
    assert parse_hit(as_attributes, "COSINE") == Hit("a.jpg", ["a.jpg", "b.jpg"], 0.5, "abc", 9, 3, 2, "PNG")
    top_level = {"pk": "xyz", "score": 0.75, **ENTITY}  # older clients: fields beside id/score
    assert parse_hit(top_level, "IP") == Hit("a.jpg", ["a.jpg", "b.jpg"], 0.75, "xyz", 9, 3, 2, "PNG")
    by_field = {"content_hash": "h", "distance": 1.0, "path": "p.png"}  # no id: the key field
    got = parse_hit(by_field, "L2")
    assert (got.content_hash, got.path, got.paths, got.size, got.format) == ("h", "p.png", ["p.png"], 0, "")


def test_hit_path_falls_back_to_the_first_of_paths():
    hit = parse_hit({"id": 1, "distance": 0.1, "entity": {"paths": ["x.png", "y.png"]}}, "COSINE")
    assert (hit.path, hit.paths, hit.content_hash) == ("x.png", ["x.png", "y.png"], "1")


def test_scores_are_clamped_to_the_metric_range():
    hit = {"id": "abc", "distance": 1.0000001, "entity": {"path": "a.jpg", "paths": ["a.jpg"]}}
    assert parse_hit(hit, "COSINE").score == 1.0
    assert parse_hit({**hit, "distance": -1.0000002}, "IP").score == -1.0
    assert parse_hit({**hit, "distance": -1e-7}, "L2").score == 0.0
    assert parse_hit({**hit, "distance": 4.0001}, "L2").score == 4.0
    assert parse_hit({**hit, "distance": 7.5}, "").score == 7.5  # unknown metric: as reported
    assert clamp_score("COSINE", 0.31) == 0.31
    assert SCORE_RANGES == {"COSINE": (-1.0, 1.0), "IP": (-1.0, 1.0), "L2": (0.0, 4.0)}


def test_only_l2_is_lower_is_better():
    assert higher_is_better("COSINE") and higher_is_better("ip") and not higher_is_better("l2")
