"""A photo's metadata as schema version 2's columns: sentinels for unknown, keys for matching."""

from __future__ import annotations

import numpy as np

from clipvec.images.photo_meta import PhotoMeta
from clipvec.store.records import (
    GPS_UNKNOWN,
    META_FIELDS,
    OFFSET_UNKNOWN,
    OUTPUT_FIELDS,
    TAKEN_UNKNOWN,
    ImageRecord,
    from_row,
    output_fields,
    parse_hit,
    to_row,
)

FULL = PhotoMeta(1714557600, 120, "Canon", "Canon EOS R5", "RF24-105mm", 48.85, -2.35)


def record(meta: PhotoMeta | None = None) -> ImageRecord:
    base = ImageRecord("abc", ["a.jpg"], 1, 1.0, 4, 3, "JPEG", np.zeros(2, dtype=np.float32))
    return base if meta is None else ImageRecord(**{**base.__dict__, "meta": meta})


def test_known_metadata_is_stored_and_read_back():
    row = to_row(record(FULL), dim=2, model_name="m")
    assert {k: row[k] for k in META_FIELDS} == {
        "taken": 1714557600,
        "taken_offset": 120,
        "camera_make": "Canon",
        "camera_model": "Canon EOS R5",
        "lens": "RF24-105mm",
        "camera_key": "canon canon eos r5",
        "lens_key": "rf24-105mm",
        "lat": 48.85,
        "lon": -2.35,
    }
    assert from_row(row, False).meta == FULL
    assert parse_hit({"id": "abc", "distance": 0.5, "entity": row}).meta == FULL


def test_unknown_is_a_sentinel_in_the_row_and_none_outside():
    row = to_row(record(), dim=2, model_name="m")
    assert (row["taken"], row["taken_offset"], row["lat"], row["lon"]) == (
        TAKEN_UNKNOWN,
        OFFSET_UNKNOWN,
        GPS_UNKNOWN,
        GPS_UNKNOWN,
    )
    assert row["camera_make"] == row["camera_key"] == row["lens_key"] == ""
    assert from_row(row, False).meta == PhotoMeta()


def test_a_version_1_row_has_no_metadata_columns_and_reads_back_unknown():
    row = to_row(record(FULL), dim=2, model_name="m", version=1)
    assert not set(META_FIELDS) & set(row)
    assert from_row(row, False).meta == PhotoMeta()
    assert output_fields(1) == OUTPUT_FIELDS and output_fields(2) == OUTPUT_FIELDS + list(META_FIELDS)


def test_values_out_of_range_are_stored_as_unknown():
    wild = PhotoMeta(
        taken=-(10**15),  # no calendar year
        taken_offset=99_999,
        camera_make="X" * 300 + "\x00",
        camera_model="\x07Model\n",
        lens=b"bytes".decode() + "\ud800",  # a lone surrogate cannot be stored as UTF-8
        lat=91.0,
        lon=10.0,
    )
    row = to_row(record(wild), dim=2, model_name="m")
    assert row["taken"] == TAKEN_UNKNOWN and row["taken_offset"] == OFFSET_UNKNOWN
    assert row["camera_make"] == "X" * 256 and row["camera_model"] == "Model" and row["lens"] == "bytes"
    assert row["lat"] == row["lon"] == GPS_UNKNOWN  # half a place is no place
    assert to_row(record(PhotoMeta(taken_offset=60)), dim=2, model_name="m")["taken_offset"] == OFFSET_UNKNOWN


def test_keys_are_casefolded_and_fit_their_columns():
    meta = PhotoMeta(camera_make="ẞ" * 128, camera_model="ß" * 128, lens="Straße")
    row = to_row(record(meta), dim=2, model_name="m")
    assert row["camera_key"].startswith("ss") and len(row["camera_key"].encode()) <= 520
    assert row["lens_key"] == "strasse"
