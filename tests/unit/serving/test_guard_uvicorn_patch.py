"""Uvicorn's own 400 for malformed HTTP is JSON too (twin of the "GARBAGE" request in
tests/e2e/test_hardening.py's test_every_error_is_json, without a socket)."""

from __future__ import annotations

import h11
from uvicorn.protocols.http import h11_impl

from clipvec.serving.guard import json_protocol_errors


class Transport:
    def __init__(self) -> None:
        self.data = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        self.closed = True


class Protocol:
    """What uvicorn's ``send_400_response`` uses of its protocol object."""

    def __init__(self) -> None:
        self.transport = Transport()
        self.conn = h11.Connection(h11.SERVER)


def test_the_400_is_json_and_closes_the_connection():
    json_protocol_errors()
    proto = Protocol()
    h11_impl.H11Protocol.send_400_response(proto, "Invalid HTTP request received.")
    payload = b'{"error": "bad_request", "detail": "malformed HTTP request: Invalid HTTP request received."}'
    assert proto.transport.data == (
        b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(payload)}\r\n".encode()
        + b"connection: close\r\n\r\n"
        + payload
    )
    assert proto.transport.closed


def test_patching_twice_is_patching_once():
    json_protocol_errors()
    patched = h11_impl.H11Protocol.send_400_response
    json_protocol_errors()
    assert h11_impl.H11Protocol.send_400_response is patched and patched._clipvec


def test_a_connection_h11_cannot_answer_on_is_just_closed():
    json_protocol_errors()
    proto = Protocol()
    proto.conn.send(h11.Response(status_code=200, headers=[("content-length", "0")]))  # already answered
    written = proto.transport.data
    h11_impl.H11Protocol.send_400_response(proto, "late")
    assert proto.transport.data == written and proto.transport.closed
