"""``RequestGuard`` as a whole: the order of its checks and the concurrency limit (429).

In-process twins of tests/e2e/test_hardening.py's test_busy_service_answers_429_json and
the guard's half of test_200_stalled_uploads_do_not_lock_out_a_good_request.
"""

from __future__ import annotations

import asyncio

from asgi_driver import call, echo_app, echoed, run

from clipvec.serving.guard import RequestGuard

TEXT = {"Content-Type": "text/plain"}


def blocking_app(gate: asyncio.Event):
    async def app(scope, receive, send):
        await gate.wait()
        await echo_app(scope, receive, send)

    return app


def test_requests_past_max_concurrency_get_429():
    async def scenario():
        gate = asyncio.Event()
        guard = RequestGuard(blocking_app(gate), max_concurrency=1)
        first = asyncio.ensure_future(call(guard, "POST", "/vectorize_text", headers=TEXT, chunks=[b"one"]))
        await asyncio.sleep(0.05)
        second = await call(guard, "POST", "/vectorize_text", headers=TEXT, chunks=[b"two"])
        health = asyncio.ensure_future(call(guard, "GET", "/livez"))  # not limited, but blocked below
        gate.set()
        return await first, second, await health, guard.active

    first, second, health, active = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert echoed(first)["body"] == "one"
    assert second.status == 429 and second.json() == {
        "error": "too_many_requests",
        "detail": "1 requests are being processed (CLIPVEC_MAX_CONCURRENCY); try again shortly",
    }
    assert second.header("retry-after") == "1"
    assert health.status == 200
    assert active == 0


def test_image_uploads_at_the_limit_leave_text_requests_answered():
    """Images count apart: max_concurrency big uploads in flight do not make text answer 429 (issue 21)."""

    async def scenario():
        gate = asyncio.Event()
        guard = RequestGuard(blocking_app(gate), max_concurrency=2)
        png = {"Content-Type": "image/png"}
        images = [
            asyncio.ensure_future(call(guard, "POST", "/vectorize_image", headers=png, chunks=[b"\x89PNG"]))
            for _ in range(2)
        ]
        await asyncio.sleep(0.05)
        third_image = await call(guard, "POST", "/vectorize_image", headers=png, chunks=[b"\x89PNG"])
        text = asyncio.ensure_future(call(guard, "POST", "/vectorize_text", headers=TEXT, chunks=[b"hi"]))
        await asyncio.sleep(0.05)
        counts = guard.active, guard.active_images
        gate.set()
        return (
            third_image,
            await text,
            await asyncio.gather(*images),
            counts,
            (guard.active, guard.active_images),
        )

    third_image, text, images, during, after = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert third_image.status == 429 and "2 image requests" in third_image.json()["detail"]
    assert echoed(text)["body"] == "hi"  # was 429: the two images took every slot
    assert [a.status for a in images] == [200, 200]
    assert during == (1, 2) and after == (0, 0)


def test_a_request_counts_only_once_its_body_has_arrived():
    """Stalled uploads hold no slot: a good request still gets through (it was 429 for everyone)."""

    async def scenario():
        guard = RequestGuard(echo_app, max_concurrency=2, idle_timeout=5)
        stalled = [
            asyncio.ensure_future(call(guard, "POST", "/vectorize_image", chunks=[b"\xff\xd8"], then="hang"))
            for _ in range(20)
        ]
        await asyncio.sleep(0.05)
        good = await call(guard, "POST", "/vectorize_image", chunks=[b"\xff\xd8\xff"])
        for task in stalled:
            task.cancel()
        await asyncio.gather(*stalled, return_exceptions=True)
        return good, guard.active

    good, active = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert echoed(good)["body"] == "\xff\xd8\xff"
    assert active == 0


def test_the_slot_is_released_when_the_app_fails():
    async def crash(scope, receive, send):
        raise RuntimeError("boom")

    guard = RequestGuard(crash, max_concurrency=1)
    for _ in range(3):
        assert run(guard, "POST", "/vectorize_text", headers=TEXT, chunks=[b"x"]).status == 500
    assert guard.active == 0


def test_refused_requests_never_reach_the_app():
    reached: list[str] = []

    async def app(scope, receive, send):
        reached.append(scope["path"])
        await echo_app(scope, receive, send)

    guard = RequestGuard(app, api_key="k")
    assert run(guard, "POST", "/vectorize_text", chunks=[b"x"]).status == 401
    guard = RequestGuard(app)
    assert run(guard, "POST", "/vectorize_text", headers={"Origin": "https://evil.example"}).status == 403
    assert run(guard, "POST", "/vectorize_texts", headers=TEXT, chunks=[b"[]"]).status == 415
    assert reached == []


def test_other_scopes_pass_straight_through():
    seen: list[str] = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    asyncio.run(RequestGuard(app)({"type": "lifespan"}, None, None))  # type: ignore[arg-type]
    assert seen == ["lifespan"]


def test_get_on_an_api_route_is_not_vetted_but_answered_below():
    # BentoML answers 405 itself; the guard only shapes it (test_guard_responses.py).
    answer = run(RequestGuard(echo_app), "GET", "/vectorize_text", query=b"unknown=1")
    assert echoed(answer)["query"] == "unknown=1"
