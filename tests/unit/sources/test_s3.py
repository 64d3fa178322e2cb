"""The S3 source's pure parts: URIs, the version stamp stored as an object's mtime, which paths it owns.

Listing, reading and uploads against a real S3 server are in tests/integration/sources.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from clipvec.errors import ClipvecError
from clipvec.sources.s3 import S3Source, bucket_source, split_s3_uri, version_stamp

ETAG = '"d41d8cd98f00b204e9800998ecf8427e"'
NEW_YEAR = datetime(2024, 1, 1, tzinfo=timezone.utc)  # 1704067200


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://bucket/a/b/", ("bucket", "a/b")),
        ("s3://bucket//a/b//", ("bucket", "a/b")),
        ("s3://my-bucket.v2/photos 2024", ("my-bucket.v2", "photos 2024")),
    ],
)
def test_split_s3_uri(uri, expected):
    assert split_s3_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "detail"),
    [
        ("/data/images", "not an S3 URI: '/data/images'"),
        ("S3://bucket/a", "not an S3 URI: 'S3://bucket/a'"),
        ("s3://", "no bucket in 's3://' (expected s3://bucket/prefix)"),
        ("s3:///photos", "no bucket in 's3:///photos' (expected s3://bucket/prefix)"),
        ("s3://my bucket/x", "no bucket in 's3://my bucket/x' (expected s3://bucket/prefix)"),
        ("s3://a\\b/x", "no bucket in 's3://a\\\\b/x' (expected s3://bucket/prefix)"),
    ],
)
def test_split_s3_uri_refuses(uri, detail):
    with pytest.raises(ClipvecError) as caught:
        split_s3_uri(uri)
    assert (caught.value.code, caught.value.detail) == ("bad_source", detail)


def test_the_version_stamp_is_stored_data_and_must_not_change():
    """Records keep it as the object's mtime: another formula would re-read every object once."""
    assert version_stamp(NEW_YEAR, ETAG) == pytest.approx(1704067200.946, abs=1e-9)


def test_the_version_stamp_is_the_second_plus_an_etag_fingerprint():
    stamp = version_stamp(NEW_YEAR, ETAG)
    assert int(stamp) == 1704067200
    assert version_stamp(NEW_YEAR, ETAG.strip('"')) == stamp  # quoted or not, the same ETag
    same_moment = datetime(2024, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    assert version_stamp(same_moment, ETAG) == stamp
    assert version_stamp(datetime(2024, 1, 1, 0, 0, 0, 999_999), ETAG) == stamp  # naive is UTC; whole seconds
    assert version_stamp("1704067200.9", ETAG) == stamp  # a number (string) of seconds
    assert version_stamp(None, "") == pytest.approx(0.001)
    fractions = {round(version_stamp(NEW_YEAR, f'"{i:032x}"') - 1704067200, 3) for i in range(300)}
    assert min(fractions) >= 0.001 and max(fractions) <= 0.997
    assert len(fractions) > 200  # a rewrite within the same second is seen (1 in 997 is not)


def test_a_source_owns_the_paths_below_its_prefix_only():
    source = S3Source.from_uri("s3://bucket/pre/")
    assert (source.bucket, source.prefix, source.uri, source.display) == (
        "bucket",
        "pre",
        "s3://bucket/pre/",
        "s3://bucket/pre/",
    )
    assert source.owns("s3://bucket/pre/a.jpg") and source.owns("s3://bucket/pre/sub/b.jpg")
    assert not source.owns("s3://bucket/prefix-2/a.jpg") and not source.owns("pre/a.jpg")
    assert S3Source.from_uri("s3://bucket").uri == "s3://bucket/"
    assert S3Source.from_uri("s3://b/p", anon=True).options == (("anon", True),)


def test_paths_of_other_prefixes_are_never_read():
    source = S3Source.from_uri("s3://bucket/pre")
    for read in (source.read, source.open):
        with pytest.raises(FileNotFoundError, match="s3://bucket/other/a.jpg is not below s3://bucket/pre/"):
            read("s3://bucket/other/a.jpg")


def test_a_stored_path_reads_from_its_whole_bucket():
    source = bucket_source("s3://photos/2024/a.jpg")
    assert source.uri == "s3://photos/" and source.owns("s3://photos/2023/b.jpg")
    assert S3Source.from_uri("s3://photos/2024") == S3Source(
        "photos", "2024"
    )  # a spec: pickles to Ray workers
