"""Issue 17.1: a photo's date, camera, lens and place from EXIF written by Pillow, through the
decoder's own parse; every hostile header gives unknown for its field and a decoded image."""

from __future__ import annotations

import io
import warnings

import pytest
from photo_corpus import FORMATS, encode, exif_block, photos
from PIL import Image

from clipvec.images import decode_image, prepare_image, read_photo_meta, read_photo_meta_of
from clipvec.images.photo_meta import PhotoMeta
from clipvec.images.preprocess import Preprocessor

CORPUS = photos()


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():  # Pillow warns about the corrupt blocks on purpose here
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("photo", CORPUS, ids=[p.name for p in CORPUS])
def test_the_decoder_reports_what_the_header_says(photo):
    decoded = decode_image(photo.data)
    assert decoded.meta == photo.expect
    assert decoded.width == 48 and decoded.height == 40  # the image itself is fine


@pytest.mark.parametrize("photo", CORPUS, ids=[p.name for p in CORPUS])
def test_the_header_alone_says_the_same(photo):
    assert read_photo_meta_of(photo.data) == photo.expect
    with Image.open(io.BytesIO(photo.data)) as image:
        assert read_photo_meta(image) == photo.expect


def test_every_format_carries_every_field():
    found = {p.name: p.expect for p in CORPUS}
    for ext in FORMATS.values():
        meta = found[f"canon_paris.{ext}"]
        assert meta.taken_iso() == "2024-05-01T12:00:00+02:00"
        assert (meta.camera, meta.lens) == ("Canon EOS R5", "RF24-105mm F4 L IS USM")
        assert (meta.lat, meta.lon) == (48.8584, 2.2945)
    assert found["phone_quito.png"].taken_iso() == "2022-07-14T06:30:00"  # no offset: wall clock
    assert found["nikon_sydney.webp"].lat == -33.8568  # S is negative


def test_prepared_pixels_carry_the_metadata():
    photo = next(p for p in CORPUS if p.name == "nikon_sydney.jpg")
    prepared = prepare_image(photo.data, Preprocessor(), max_pixels=10**8)
    assert prepared.meta == photo.expect


def test_a_file_without_a_date_is_never_given_one(tmp_path):
    data = encode("JPEG", exif_block(make="Canon", model="EOS"), seed=5)
    meta = decode_image(data).meta
    assert meta.taken is None and meta.taken_offset is None and meta.camera == "Canon EOS"


@pytest.mark.parametrize(
    ("offset", "minutes"), [("+05:30", 330), ("-03:00", -180), ("+0545", 345), ("+14:00", 840)]
)
def test_offsets_make_the_date_true_utc(offset, minutes):
    data = encode("JPEG", exif_block(date="2020:01:01 00:00:00", offset=offset), seed=6)
    meta = decode_image(data).meta
    assert (meta.taken, meta.taken_offset) == (1577836800 - minutes * 60, minutes)


@pytest.mark.parametrize("offset", ["+14:01", "-24:00", "+02:60", "2:00", "Z", ""])
def test_an_absurd_offset_leaves_the_wall_clock(offset):
    data = encode("JPEG", exif_block(date="2020:01:01 00:00:00", offset=offset), seed=7)
    assert (decode_image(data).meta.taken, decode_image(data).meta.taken_offset) == (1577836800, None)


def test_photo_meta_text_round_trip():
    meta = next(p for p in CORPUS if p.name == "canon_paris.tif").expect
    assert PhotoMeta.from_json(meta.to_json()) == meta
    assert PhotoMeta.from_json("[1, 2]") == PhotoMeta() == PhotoMeta.from_json("not json")
