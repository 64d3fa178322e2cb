"""The refusals only the guard makes (the others are in :mod:`clipvec.errors`)."""

from __future__ import annotations

from clipvec.errors import ClipvecError


class RequestTimeout(ClipvecError):
    status, code = 408, "request_timeout"


class Unauthorized(ClipvecError):
    status, code = 401, "unauthorized"


class Forbidden(ClipvecError):
    status, code = 403, "forbidden"


class TooManyRequests(ClipvecError):
    status, code = 429, "too_many_requests"


class InvalidJson(ClipvecError):
    status, code = 400, "invalid_json"


class MisdirectedRequest(ClipvecError):
    """``Host`` names neither this machine nor an allowed host (DNS rebinding): :mod:`.hosts`."""

    status, code = 421, "misdirected_request"


class WebSocketRefused(ClipvecError):
    """The service has no WebSocket routes; an upgrade gets this instead of a bare 403."""

    status, code = 400, "websocket_unsupported"
