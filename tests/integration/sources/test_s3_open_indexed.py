"""``S3Source.open_indexed`` on a real SeaweedFS: the page reads an object in ranges, never whole."""

from __future__ import annotations

import os

from clipvec.sources import S3Source
from clipvec.sources.s3 import PAGE_BLOCK, bucket_source


def test_an_object_is_read_in_ranges_with_its_size(s3_env, s3_server):
    data = os.urandom(3 * PAGE_BLOCK + 123)
    s3_server.filesystem().pipe("photos/page/big.png", data)
    source = bucket_source("s3://photos/page/big.png")
    with source.open_indexed("s3://photos/page/big.png") as opened:
        assert opened.size == len(data) and opened.version is None and not opened.changed()
        assert opened.read_at(PAGE_BLOCK - 10, 20) == data[PAGE_BLOCK - 10 : PAGE_BLOCK + 10]
        assert opened.read_at(len(data) - 5, 100) == data[-5:]  # short only at the end
        assert opened.read_all() == data


def test_a_missing_or_foreign_object_is_none(s3_env, s3_server):
    source = S3Source.from_uri("s3://photos/page/")
    assert source.open_indexed("s3://photos/page/nothing.png") is None
    assert source.open_indexed("s3://other/page/x.png") is None  # not below the source
