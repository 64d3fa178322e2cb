"""The one producer of error answers: ``{"error": code, "detail": text}``.

Every error the service gives, whoever notices it (an API method, the page, the request
guard, uvicorn's parser), has this body; the dict itself is :func:`clipvec.errors.error_json`.
This module adds what HTTP needs around it:

* the code for an answer that does not come from a :class:`ClipvecError` (Starlette's
  404/405, BentoML's 500s), and a detail that holds no library text;
* fixed public texts for 5xx: the full detail (addresses, paths, library text) goes to the
  log only;
* the two encodings in use. Starlette's ``JSONResponse`` (API methods, the page) writes
  compact UTF-8; the guard writes ``json.dumps``' default (ASCII, ``", "``). Both stay, so
  answers stay byte for byte what clients have seen.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

from clipvec.errors import ClipvecError, error_json

INTERNAL_DETAIL = "internal error; the service log has the details"

# Codes for error answers that do not come from a ClipvecError.
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    421: "misdirected_request",
    422: "bad_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
    504: "timeout",
}

# What a client is told for server-side failures; the full detail (addresses, paths, library
# text) goes to the log only.
PUBLIC_DETAIL = {
    "store_unavailable": "the image store (Milvus) cannot be used right now; the service log has the details",
    "store_locked": "another process holds the Milvus Lite file; stop it or use a Milvus server",
    "store_damaged": "the Milvus Lite file is damaged: restore a copy, or import into a new file "
    "(CLIPVEC_MILVUS_URI); the service log names the file",
    "storage_full": "no space left on the disk: the image was not stored; the service log has the details",
    "model_unavailable": "the CLIP model is not available; the service log has the details",
    "images_busy": "the service is busy with other images; try again shortly",
}


def public_error(err: ClipvecError) -> dict[str, str]:
    """The JSON body for ``err``: 5xx details are replaced by a fixed text per code; others by
    the error's public detail when it has one (a detail that names server paths)."""
    if err.status < 500:
        return error_json(err.code, err.public_detail or err.detail)
    return error_json(err.code, PUBLIC_DETAIL.get(err.code, INTERNAL_DETAIL))


def internal_error() -> ClipvecError:
    """The 500 for an exception that escaped: no exception text reaches the client."""
    return ClipvecError(INTERNAL_DETAIL, code="internal_error", status=500)


def status_detail(status: int, method: str) -> str:
    """A detail for an error answer that came without one of ours (no library text)."""
    if status == 404:
        return "no such route (the API is described at /docs.json)"
    if status == 405:
        return f"this route does not answer {method[:20]}"
    if status == 429:
        return "too many requests are being processed; try again shortly"
    if status == 504:
        return "the request took too long to process"
    if status >= 500:
        return INTERNAL_DETAIL
    try:
        return HTTPStatus(status).description or HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def status_error(status: int, method: str) -> dict[str, str]:
    """The body replacing an error answer of ``status`` that is not ours (e.g. Starlette's 404)."""
    return error_json(STATUS_CODES.get(status, "error"), status_detail(status, method))


def error_bytes(body: Mapping[str, str]) -> bytes:
    """The guard's encoding of an error body (``json.dumps`` defaults)."""
    return json.dumps(body).encode()


def is_error_body(content_type: bytes, body: bytes) -> bool:
    """Whether an answer already is ``{"error": str, "detail": str}`` JSON (and nothing else)."""
    if not content_type.startswith(b"application/json"):
        return False
    try:
        value: Any = json.loads(body)
    except ValueError:
        return False
    return (
        isinstance(value, dict)
        and set(value) == {"error", "detail"}
        and isinstance(value["error"], str)
        and isinstance(value["detail"], str)
    )


def json_error_response(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A Starlette answer with exactly this code and detail (the page's 404 and 503)."""
    return JSONResponse(error_json(code, detail), status_code=status, headers=headers)


def error_response(err: ClipvecError) -> JSONResponse:
    """A Starlette answer for ``err`` from an API method (5xx details replaced: :func:`public_error`)."""
    return JSONResponse(public_error(err), status_code=err.status)
