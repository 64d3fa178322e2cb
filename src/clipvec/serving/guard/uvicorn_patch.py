"""Uvicorn's own answer to malformed HTTP, made a JSON ``{"error", "detail"}`` like every other."""

from __future__ import annotations

from typing import Any

from clipvec.errors import error_json
from clipvec.serving.error_bodies import error_bytes


def json_protocol_errors() -> None:
    """Make uvicorn's own 400 for malformed HTTP a JSON ``{"error", "detail"}`` too (idempotent)."""
    try:
        import h11
        from uvicorn.protocols.http import h11_impl
    except ImportError:  # another server: nothing to patch
        return
    if getattr(h11_impl.H11Protocol.send_400_response, "_clipvec", False):
        return

    def send_400_response(self: Any, msg: str) -> None:
        payload = error_bytes(error_json("bad_request", f"malformed HTTP request: {msg}"))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"connection", b"close"),
        ]
        try:
            self.transport.write(
                self.conn.send(h11.Response(status_code=400, headers=headers, reason=b"Bad Request"))
            )
            self.transport.write(self.conn.send(h11.Data(data=payload)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
        except h11.LocalProtocolError:
            pass  # h11 cannot answer in this state: just close
        self.transport.close()

    send_400_response._clipvec = True  # type: ignore[attr-defined]
    h11_impl.H11Protocol.send_400_response = send_400_response  # type: ignore[method-assign]
