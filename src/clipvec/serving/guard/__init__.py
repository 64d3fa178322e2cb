"""ASGI middleware that vets every request before BentoML sees it, and shapes every error.

Plain BentoML turns several bad inputs into 500s, odd values or hangs (an exception
raised before the answer starts leaves its timeout middleware waiting 300 s), ignores
Content-Type, has no size limit, and counts a stalled upload as a busy request. This
guard runs inside BentoML's own middlewares and, for every HTTP request:

* answers only requests whose ``Host`` names this service (loopback, its own address and
  name, ``CLIPVEC_ALLOWED_HOSTS``) -> 421, against DNS rebinding; health and metrics are
  exempt (:mod:`.hosts`);
* checks the optional API key (``Authorization: Bearer``; the page's image routes also
  take the ``clipvec_key`` cookie) -> 401; refuses writes (POST) whose ``Origin`` is
  neither a page of the service (an allowed host, the port the browser reached) nor
  allowed -> 403 (:mod:`.access`);
* refuses a query parameter given twice, on every route that is not public -> 400;
* reads the body of the API routes itself: over ``max_body_bytes`` -> 413 without
  reading the rest; stalled for ``idle_timeout`` s or slower than ``min_rate`` B/s -> 408;
  more multipart parts than ``max_batch_items`` -> 413 as soon as the limit is passed
  (:mod:`.body`), counted at the boundary the service then parses with; a Content-Type
  whose boundary two parsers could read differently -> 400 (:mod:`.multipart`);
* checks media types (415) and empty bodies (400); parses JSON safely (400
  ``invalid_json`` for depth, huge numbers, lone surrogates) and passes a plain, shallow
  body on (:mod:`.normalise`);
* limits how many requests are processed at once (429), counting a request only once its
  body has arrived, so slow clients cannot lock others out (:mod:`.middleware`);
* turns every error answer (BentoML's, Starlette's 404/405, the page's) into
  ``{"error": code, "detail": text}`` JSON, with no library text, and any exception that
  escapes into a JSON 500 at once instead of a hang; fixes up ``/docs.json`` and
  ``/schema.json`` (:mod:`clipvec.serving.openapi`) and drops the Google Tag Manager
  snippet from BentoML's Swagger page at ``/`` (:mod:`.responses`).

Below requests, uvicorn's connections are bounded too: a header timeout and a cap on open
connections that closes the oldest idle one first (:func:`bound_connections`,
:mod:`.connections`).

A WebSocket upgrade (no route takes one) gets a JSON refusal too, through the ASGI
WebSocket denial response, instead of uvicorn's bare 403.

Which routes exist, what each takes and which paths are public is
:mod:`clipvec.serving.routes`. Uvicorn's own "Invalid HTTP request" answers are made JSON
by :func:`json_protocol_errors` (:mod:`.uvicorn_patch`); the service reads multipart
bodies with :func:`parse_multipart` (:mod:`.multipart`).
"""

from __future__ import annotations

from clipvec.serving.guard.config import GuardConfig
from clipvec.serving.guard.connections import bound_connections
from clipvec.serving.guard.errors import Forbidden, InvalidJson, RequestTimeout, TooManyRequests, Unauthorized
from clipvec.serving.guard.middleware import RequestGuard
from clipvec.serving.guard.multipart import parse_multipart
from clipvec.serving.guard.normalise import parse_json
from clipvec.serving.guard.responses import ShapedSend, send_error
from clipvec.serving.guard.uvicorn_patch import json_protocol_errors
from clipvec.serving.routes import ITEM_ERROR, MULTIPART_BOUNDARY

__all__ = [
    "ITEM_ERROR",
    "MULTIPART_BOUNDARY",
    "Forbidden",
    "GuardConfig",
    "InvalidJson",
    "RequestGuard",
    "RequestTimeout",
    "ShapedSend",
    "TooManyRequests",
    "Unauthorized",
    "bound_connections",
    "json_protocol_errors",
    "parse_json",
    "parse_multipart",
    "send_error",
]
