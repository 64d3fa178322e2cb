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
