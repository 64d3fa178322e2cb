"""``as_read``: the size and mtime of the file whose bytes are read, not of the one scanned (issue 21)."""

from __future__ import annotations

import io
import os
from datetime import datetime, timezone

from clipvec.sources import FolderSource, FoundFile, as_read, version_stamp


def test_a_local_file_is_described_by_its_open_descriptor(tmp_path):
    (tmp_path / "a.png").write_bytes(b"old")
    scanned = FoundFile("a.png", 3, 1.0)
    with FolderSource(tmp_path).open("a.png") as f:
        os.replace(tmp_path.joinpath("a.png"), tmp_path / "gone.png")  # renamed away after the open
        (tmp_path / "a.png").write_bytes(b"a newer, longer file")
        read = as_read(scanned, f)
    st = (tmp_path / "gone.png").stat()
    assert read == FoundFile("a.png", 3, st.st_mtime)  # the file the descriptor holds


def test_an_s3_object_is_described_by_the_head_it_was_opened_with():
    class S3File(io.BytesIO):  # what s3fs's S3File carries: the HEAD taken at open
        details = {"size": 42, "ETag": '"abc"', "LastModified": datetime(2026, 1, 2, tzinfo=timezone.utc)}

    read = as_read(FoundFile("s3://b/k.png", 7, 1.5), S3File(b"x"))
    assert read == FoundFile("s3://b/k.png", 42, version_stamp(S3File.details["LastModified"], '"abc"'))


def test_without_either_the_scan_is_kept():
    scanned = FoundFile("x.png", 7, 1.5)
    assert as_read(scanned, io.BytesIO(b"x")) == scanned
