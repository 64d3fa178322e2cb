"""Reading request bodies under limits: size, parts, stalls and trickles, then the hand-off.

In-process twins (no sockets: an ASGI receive that never delivers stands for a stalled
client) of tests/e2e/test_hardening.py's test_stalled_body_gets_408_after_the_idle_timeout,
test_trickling_body_is_cut_by_the_floor_rate, test_too_many_multipart_parts_are_refused_while_streaming,
the 413 of test_every_error_is_json, and tests/e2e/test_service.py's
test_body_over_limit_is_refused_without_reading_it_all.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from asgi_driver import echo_app, echoed, run

from clipvec.errors import PayloadTooLarge
from clipvec.serving.guard import RequestGuard
from clipvec.serving.guard.body import PartCounter, replay

LIMIT = 1000
JPEG = {"Content-Type": "image/jpeg"}
PART = b"--b\r\nContent-Disposition: form-data; name=files; filename=a.jpg\r\n\r\nx\r\n"
MULTIPART = {"Content-Type": "multipart/form-data; boundary=b"}


def guard(**options) -> RequestGuard:
    return RequestGuard(echo_app, **{"max_body_bytes": LIMIT, "max_batch_items": 3, **options})


def assert_cut(answer, status: int, code: str) -> dict:
    assert answer.status == status, (answer.status, answer.body[:300])
    assert answer.header("content-type") == "application/json"
    assert answer.header("connection") == "close"  # the rest of the body is not read
    body = answer.json()
    assert set(body) == {"error", "detail"} and body["error"] == code, body
    return body


def test_a_declared_length_over_the_limit_is_413_before_reading():
    # The body never comes: only the declared length can have refused it.
    answer = run(
        guard(),
        "POST",
        "/vectorize_image",
        headers={**JPEG, "Content-Length": "1001"},
        chunks=[],
        then="hang",
    )
    body = assert_cut(answer, 413, "payload_too_large")
    assert "1001 bytes" in body["detail"] and "CLIPVEC_MAX_BODY_BYTES" in body["detail"]


def test_a_streamed_body_is_cut_as_soon_as_it_passes_the_limit():
    answer = run(
        guard(), "POST", "/vectorize_image", headers=JPEG, chunks=[b"x" * 600, b"y" * 600], then="hang"
    )
    assert_cut(answer, 413, "payload_too_large")


def test_a_body_at_the_limit_is_passed_on_whole():
    answer = run(guard(), "POST", "/vectorize_image", headers=JPEG, chunks=[b"x" * 500, b"y" * 500])
    seen = echoed(answer)
    assert seen["body"] == "x" * 500 + "y" * 500
    assert seen["headers"]["content-length"] == "1000"


def test_too_many_multipart_parts_are_refused_while_streaming():
    """The body never ends: the 413 must come as soon as the part limit is passed."""
    answer = run(guard(), "POST", "/vectorize_images", headers=MULTIPART, chunks=[PART] * 5, then="hang")
    body = assert_cut(answer, 413, "payload_too_large")
    assert "more than 3 parts" in body["detail"]


def test_as_many_parts_as_allowed_pass():
    answer = run(guard(), "POST", "/vectorize_images", headers=MULTIPART, chunks=[PART * 3 + b"--b--\r\n"])
    assert echoed(answer)["body"].count("filename=a.jpg") == 3


def test_parts_are_counted_at_the_boundary_a_quoted_parameter_hides():
    """Issue 21: the guard read boundary=aa inside foo="...", counted no parts and let 400k through."""
    hidden = {"Content-Type": 'multipart/form-data; foo="x; boundary=aa"; boundary=b'}
    answer = run(guard(), "POST", "/vectorize_images", headers=hidden, chunks=[PART] * 5, then="hang")
    assert "more than 3 parts" in assert_cut(answer, 413, "payload_too_large")["detail"]


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data; boundary*=utf-8''b", "multipart/form-data; boundary=a; boundary=b"],
)
def test_an_ambiguous_boundary_is_400_before_the_body_is_read(content_type):
    headers = {"Content-Type": content_type}
    answer = run(guard(), "POST", "/vectorize_images", headers=headers, chunks=[PART] * 5, then="hang")
    assert answer.status == 400 and answer.json()["error"] == "invalid_multipart", answer.body[:300]


@pytest.mark.parametrize("split", [1, 2, 3, 5])
def test_the_part_counter_finds_delimiters_split_across_chunks(split):
    counter = PartCounter(b"boundary", limit=2)
    data = b"--boundary\r\n1\r\n--boundary\r\n2\r\n--boundary--\r\n"
    for i in range(0, len(data), split):
        counter.feed(data[i : i + split])
    assert counter.seen == 3  # two parts and the closing delimiter
    with pytest.raises(PayloadTooLarge):
        counter.feed(b"\r\n--boundary\r\n")


def test_a_stalled_body_gets_408_after_the_idle_timeout():
    started = time.monotonic()
    answer = run(
        guard(idle_timeout=0.3),
        "POST",
        "/vectorize_image",
        headers=JPEG,
        chunks=[b"\xff\xd8\xff"],
        then="hang",
    )
    elapsed = time.monotonic() - started
    body = assert_cut(answer, 408, "request_timeout")
    assert "3 bytes" in body["detail"] and "CLIPVEC_BODY_IDLE_TIMEOUT" in body["detail"]
    assert elapsed > 0.25, elapsed  # it waited for the idle timeout (0.3 s; any longer is the machine)


def test_a_trickling_body_is_cut_by_the_floor_rate():
    """A byte every 50 ms never stalls for the idle timeout, but is far below the floor rate.

    Cut while it still trickles: only the idle timeout after the 200th byte would see all 200.
    """
    options = {"idle_timeout": 0.4, "min_rate": 1000}
    answer = run(
        guard(**options),
        "POST",
        "/vectorize_image",
        headers=JPEG,
        chunks=[b"x"] * 200,
        delay=0.05,
        then="hang",
    )
    body = assert_cut(answer, 408, "request_timeout")
    assert "CLIPVEC_BODY_MIN_RATE" in body["detail"]
    received = int(re.search(r"\((\d+) bytes in", body["detail"]).group(1))
    assert received < 200, body["detail"]


def test_a_fast_enough_body_is_not_cut():
    options = {"idle_timeout": 0.2, "min_rate": 10}
    answer = run(guard(**options), "POST", "/vectorize_image", headers=JPEG, chunks=[b"x"] * 8, delay=0.04)
    assert echoed(answer)["body"] == "x" * 8


def test_a_client_gone_before_the_body_is_400():
    answer = run(guard(), "POST", "/vectorize_image", headers=JPEG, chunks=[b"x"], then="disconnect")
    assert answer.status == 400 and answer.json()["error"] == "empty_body"


def test_replay_hands_the_body_on_once_then_the_real_channel():
    async def scenario() -> list[dict]:
        async def client_gone() -> dict:
            return {"type": "http.disconnect"}

        receive = replay(b"the body", client_gone)
        return [await receive(), await receive()]

    first, second = asyncio.run(scenario())
    assert first == {"type": "http.request", "body": b"the body", "more_body": False}
    assert second == {"type": "http.disconnect"}


def test_public_paths_are_passed_on_unread():
    # Health checks and static files are cheap: no size limit, no vetting, no concurrency slot.
    answer = run(guard(), "POST", "/livez", headers={"Content-Length": "999999"}, chunks=[b"x" * 2000])
    assert echoed(answer)["body"] == "x" * 2000
