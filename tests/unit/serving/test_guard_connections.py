"""Uvicorn's connections are bounded: a header timeout, and a cap that closes the oldest idle first.

A real uvicorn server (h11, as under ``bentoml serve``) in a thread of this process, with a
tiny app, a short header timeout and a small cap; the in-process twin of
tests/e2e/test_hostile_connections.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from procs import free_port

from clipvec.serving.guard import bound_connections
from clipvec.serving.guard.connections import BoundedConnection, ConnectionLimits, bounded, effective_cap

HEADER_TIMEOUT = 0.5
CAP = 4
GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(2 * HEADER_TIMEOUT + 0.5)  # a request in progress past the header timeout
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@contextlib.contextmanager
def serving(header_timeout: float, cap: int) -> Iterator[tuple[str, int]]:
    """A bounded uvicorn server (h11) on a free port, in a thread of this process."""
    saved = BoundedConnection.header_timeout, BoundedConnection.max_connections
    bound_connections(header_timeout, cap)  # read by each server at its first connection
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, http="h11", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        with contextlib.closing(connect(("127.0.0.1", port))) as first:  # its limits are made now
            assert ask(first).startswith(b"HTTP/1.1 200")
        BoundedConnection.header_timeout, BoundedConnection.max_connections = saved
        yield "127.0.0.1", port
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        BoundedConnection.header_timeout, BoundedConnection.max_connections = saved


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    """A short header timeout and a small cap."""
    with serving(HEADER_TIMEOUT, CAP) as addr:
        yield addr


@pytest.fixture(scope="module")
def capped() -> Iterator[tuple[str, int]]:
    """The same cap, and a header timeout long enough that only the cap closes connections."""
    with serving(60.0, CAP) as addr:
        yield addr


def connect(addr: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(addr, timeout=10)
    return sock


def closed_by_server(sock: socket.socket, wait: float = 10.0) -> bool:
    """True when the server closed ``sock`` (EOF) within ``wait`` s; False while it stays open."""
    sock.settimeout(wait)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def still_open(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(1024, socket.MSG_PEEK) != b""
    except (TimeoutError, BlockingIOError):
        return True
    except ConnectionResetError:
        return False


def ask(sock: socket.socket, request: bytes = GET) -> bytes:
    """The whole answer (the app's body is always ``ok``)."""
    sock.sendall(request)
    sock.settimeout(10)
    answer = b""
    while not answer.endswith(b"ok") and (chunk := sock.recv(4096)):
        answer += chunk
    return answer


def test_the_server_uses_the_bounded_protocol(server):
    with contextlib.closing(connect(server)) as sock:
        assert ask(sock).startswith(b"HTTP/1.1 200")


def test_a_silent_connection_is_closed_after_the_header_timeout(server):
    with contextlib.closing(connect(server)) as sock:
        assert closed_by_server(sock)


def test_a_trickled_head_does_not_extend_the_deadline(server):
    with contextlib.closing(connect(server)) as sock:
        for byte in GET[:-2]:  # one byte every 50 ms: the head would take 1.2 s
            try:
                sock.send(bytes([byte]))
            except OSError:
                break
            time.sleep(0.05)
        assert closed_by_server(sock)


def test_the_deadline_restarts_after_each_answer_and_applies_to_the_next_head(server):
    with contextlib.closing(connect(server)) as sock:
        for _ in range(3):  # more time in all than one header timeout: each head starts a new wait
            assert ask(sock).startswith(b"HTTP/1.1 200")
            time.sleep(HEADER_TIMEOUT / 3)
        sock.sendall(b"GET / HT")  # a next head that never ends
        assert closed_by_server(sock)


def test_past_the_cap_the_oldest_idle_connections_are_closed_and_a_new_client_gets_in(capped):
    idle = [connect(capped) for _ in range(3 * CAP)]
    try:
        with contextlib.closing(connect(capped)) as good:
            assert ask(good).startswith(b"HTTP/1.1 200")
        assert all(closed_by_server(sock) for sock in idle[: 2 * CAP])  # the oldest went first
        assert all(still_open(sock) for sock in idle[-(CAP - 1) :])  # the newest stay
    finally:
        for sock in idle:
            sock.close()


def test_a_request_in_progress_is_neither_timed_out_nor_closed_for_room(server):
    with contextlib.closing(connect(server)) as busy:
        idle: list[socket.socket] = []
        opener = threading.Timer(0.1, lambda: idle.extend(connect(server) for _ in range(2 * CAP)))
        opener.start()
        try:  # answered after 1.5 s (> the header timeout), with the cap passed meanwhile
            assert ask(busy, b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n").startswith(b"HTTP/1.1 200")
        finally:
            opener.join()
            for sock in idle:
                sock.close()


# --------------------------------------------------------------------------- the pure parts
def test_the_cap_picks_the_oldest_idle_and_never_a_busy_one():
    limits = ConnectionLimits(header_timeout=1.0, max_connections=2)
    a, b, c, new = "a", "b", "c", "new"
    for conn in (a, b, c, new):
        limits.opened(conn)
    limits.waiting(b)
    limits.waiting(a)  # a waits since later than b (its answer came after b's)
    limits.waiting(new)
    assert limits.to_close(new) == ["b", "a"]
    limits.busy(b)
    limits.busy(a)
    assert limits.to_close(new) == ["new"]  # busy ones stay, even over the cap


def test_with_every_other_connection_busy_the_newcomer_is_the_one_closed():
    limits = ConnectionLimits(header_timeout=1.0, max_connections=1)
    limits.opened("busy")
    limits.opened("new")
    limits.waiting("new")
    assert limits.to_close("new") == ["new"]


def test_the_cap_stays_below_the_file_descriptor_limit():
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert effective_cap(10**9) == soft - 256
    assert effective_cap(5) == 5


def test_only_protocols_it_knows_are_bounded():
    from uvicorn.protocols.http.h11_impl import H11Protocol

    assert issubclass(bounded(H11Protocol), H11Protocol)
    assert bounded(bounded(H11Protocol)) is bounded(H11Protocol)
    assert bounded(asyncio.Protocol) is asyncio.Protocol
