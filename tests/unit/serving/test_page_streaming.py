"""``/ui/file`` streams the indexed file: ranges, headers, and a file that changes meanwhile.

(clipvec.serving.web.streaming, through the page app and Starlette's TestClient; the memory
bound over real HTTP is tests/e2e/test_hardening.py's test_concurrent_big_downloads_*.)
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from clipvec.serving.web import attach, make_web_app
from clipvec.serving.web.streaming import (
    PIECE,
    ByteRange,
    FileChanged,
    Unsatisfiable,
    file_response,
    parse_range,
)
from clipvec.sources.folder import open_regular_file


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", ByteRange(0, 100, 1000)),
        ("bytes=990-2000", ByteRange(990, 1000, 1000)),  # the end is cut to the file
        ("bytes=500-", ByteRange(500, 1000, 1000)),
        ("bytes=-10", ByteRange(990, 1000, 1000)),
        ("bytes=-5000", ByteRange(0, 1000, 1000)),
        (" bytes = 1 - 2 ", ByteRange(1, 3, 1000)),
        # sent whole (200): no header, several ranges, another unit, malformed, reversed
        (None, None),
        ("", None),
        ("bytes=0-1,5-9", None),
        ("items=0-1", None),
        ("bytes=abc", None),
        ("bytes=-", None),
        ("bytes=9-3", None),
        ("bytes=+1-2", None),
        ("bytes=" + "9" * 500 + "-", None),
    ],
)
def test_parse_range(header, expected):
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_ranges_past_the_end_are_unsatisfiable(header):
    with pytest.raises(Unsatisfiable):
        parse_range(header, 1000)


def noise_png(side: int = 700) -> bytes:
    """A PNG larger than a few stream pieces (noise does not compress)."""
    pixels = np.random.default_rng(7).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", compress_level=0)
    return buf.getvalue()


@pytest.fixture(scope="module")
def big(serving_core):
    data = noise_png()
    assert len(data) > 3 * PIECE
    path = serving_core.add_image(data, "noise.png")["path"]
    app = make_web_app()
    attach(app, serving_core)
    with TestClient(app) as client:
        yield client, path, data


def test_the_whole_file_with_its_length_etag_and_date(big):
    client, path, data = big
    resp = client.get("/file", params={"path": path})
    assert resp.status_code == 200 and resp.content == data
    assert resp.headers["content-length"] == str(len(data))
    assert resp.headers["accept-ranges"] == "bytes" and resp.headers["content-type"] == "image/png"
    assert resp.headers["etag"].startswith('"f') and resp.headers["last-modified"].endswith(" GMT")
    assert resp.headers["x-content-type-options"] == "nosniff"
    again = client.get("/file", params={"path": path}, headers={"If-None-Match": resp.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [("bytes=100-199", 100, 200), ("bytes=-10", -10, None), (f"bytes={PIECE - 5}-", PIECE - 5, None)],
)
def test_one_range_is_206_with_exactly_those_bytes(big, header, start, stop):
    client, path, data = big
    resp = client.get("/file", params={"path": path}, headers={"Range": header})
    part = data[start:stop]
    first = start % len(data)
    assert resp.status_code == 206 and resp.content == part
    assert resp.headers["content-length"] == str(len(part))
    assert resp.headers["content-range"] == f"bytes {first}-{first + len(part) - 1}/{len(data)}"


def test_a_range_past_the_end_is_416_json(big):
    client, path, data = big
    resp = client.get("/file", params={"path": path}, headers={"Range": f"bytes={len(data)}-"})
    assert resp.status_code == 416 and resp.headers["content-range"] == f"bytes */{len(data)}"
    assert resp.json()["error"] == "range_not_satisfiable"


def test_several_ranges_and_a_stale_if_range_get_the_whole_file(big):
    client, path, data = big
    several = client.get("/file", params={"path": path}, headers={"Range": "bytes=0-1,5-9"})
    assert several.status_code == 200 and several.content == data
    stale = client.get("/file", params={"path": path}, headers={"Range": "bytes=0-1", "If-Range": '"old"'})
    assert stale.status_code == 200 and stale.content == data
    etag = several.headers["etag"]
    current = client.get("/file", params={"path": path}, headers={"Range": "bytes=0-1", "If-Range": etag})
    assert current.status_code == 206 and current.content == data[:2]


def test_head_sends_the_headers_only(big):
    client, path, data = big
    resp = client.head("/file", params={"path": path})
    assert resp.status_code == 200 and resp.content == b""
    assert resp.headers["content-length"] == str(len(data))


async def drive(response, on_body, sent: list[dict]) -> list[dict]:
    """Run ``response`` as uvicorn would; ``on_body`` is called after each body message."""

    async def receive():
        await asyncio.sleep(3600)  # the client stays

    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.body":
            on_body(len(sent))

    await response({"type": "http", "method": "GET", "asgi": {"spec_version": "2.3"}}, receive, send)
    return sent


def test_a_file_truncated_while_sent_is_cut_short_not_sent_as_complete(tmp_path: Path):
    target = tmp_path / "big.png"
    target.write_bytes(b"x" * (4 * PIECE))
    opened = open_regular_file(target)
    response = file_response(opened, '"e"', "image/png", {}, {})

    def truncate(count: int) -> None:
        if count == 2:  # after the first piece went out
            with open(target, "r+b") as f:
                f.truncate(PIECE + 10)

    sent: list[dict] = []
    with pytest.raises(FileChanged):  # uvicorn then closes the connection short of Content-Length
        asyncio.run(drive(response, truncate, sent))
    assert sent[0]["status"] == 200 and (b"content-length", str(4 * PIECE).encode()) in sent[0]["headers"]
    assert [m.get("more_body") for m in sent[1:]] == [True]  # one piece, never an end
    assert opened._fd == -1  # closed however it ended


def test_a_file_renamed_over_while_sent_is_sent_whole_as_it_was(tmp_path: Path):
    target = tmp_path / "big.png"
    target.write_bytes(b"a" * (3 * PIECE))
    opened = open_regular_file(target)
    response = file_response(opened, '"e"', "image/png", {}, {})

    def replace(count: int) -> None:
        if count == 2:
            (tmp_path / "new.png").write_bytes(b"b" * 10)
            (tmp_path / "new.png").replace(target)

    sent = asyncio.run(drive(response, replace, []))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert body == b"a" * (3 * PIECE) and sent[-1]["more_body"] is False
    assert opened._fd == -1
