"""What an API route may be sent, and the plain, shallow body BentoML is handed instead.

BentoML ignores Content-Type, and Python's JSON parser fails on deep nesting, huge numbers
and lone surrogates with errors that became 500s or hangs. Here every route kind
(:class:`~clipvec.serving.routes.BodyKind`) gets its media types checked (415), empty
bodies refused (400), JSON parsed safely (400 ``invalid_json``), and texts and lists
normalised, so the service only ever sees UTF-8 text, a flat JSON list or raw bytes.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from clipvec.errors import ClipvecError, EmptyInput, InvalidText, PayloadTooLarge, UnsupportedMediaType
from clipvec.search.arithmetic import parse_parts
from clipvec.serving.guard.asgi import Scope
from clipvec.serving.guard.errors import InvalidJson
from clipvec.serving.routes import ITEM_ERROR, ApiRoute, BodyKind, GetRoute

_IMAGE_OK = ("image/", "application/octet-stream", "binary/")
_TEXT_OK = ("text/plain", "application/json", "")


def check_query(scope: Scope, route: ApiRoute | GetRoute) -> None:
    """400 ``bad_parameter`` for a query parameter the route does not read (e.g. ``topk=5``)."""
    allowed = route.query_names
    query = scope.get("query_string", b"").decode("latin-1")
    for name, _ in parse_qsl(query, keep_blank_values=True):
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise ClipvecError(
                f"unknown query parameter {name[:50]!r} for {route.path} (it takes: {known})",
                code="bad_parameter",
            )


def check_repeated_query(scope: Scope) -> None:
    """400 ``bad_parameter`` for a query parameter given twice (``?top_k=3&top_k=5``).

    The routes read one value each (BentoML and Starlette keep the last silently); which one
    the client meant is unknowable, so it is refused on every route, not guessed.
    """
    seen: set[str] = set()
    for name, _ in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        if name in seen:
            raise ClipvecError(
                f"the query parameter {name[:50]!r} is given more than once; give it once",
                code="bad_parameter",
            )
        seen.add(name)


def check_media_type(route: ApiRoute, media_type: str, *, has_origin: bool) -> None:
    """415 unless ``media_type`` is one the route's body kind takes."""
    path, kind = route.path, route.body
    if kind is BodyKind.IMAGE:
        # text/plain is what BentoML's own SyncHTTPClient sends for bytes; a browser (which
        # always sends Origin on POST) may not use it, so no HTML form can post an image.
        text_from_sdk = media_type == "text/plain" and not has_origin
        if media_type and not media_type.startswith(_IMAGE_OK) and not text_from_sdk:
            hint = " (use /vectorize_images for multipart uploads)" if "multipart" in media_type else ""
            raise UnsupportedMediaType(
                f"{path} takes the raw image bytes as the body (Content-Type image/* or "
                f"application/octet-stream), not {media_type}{hint}"
            )
    elif kind is BodyKind.TEXT:
        if media_type not in _TEXT_OK:
            raise UnsupportedMediaType(f"{path} takes text/plain (UTF-8) or a JSON string, not {media_type}")
    elif kind is BodyKind.JSON_LIST:
        if media_type not in ("application/json", ""):
            raise UnsupportedMediaType(f"{path} takes a JSON list of strings, not {media_type}")
    elif kind is BodyKind.OBJECT:
        if media_type not in ("application/json", ""):
            raise UnsupportedMediaType(
                f"{path} takes an empty body or the JSON object {{}}, not {media_type}"
            )
    elif kind is BodyKind.PARTS:
        if media_type not in ("application/json", ""):
            raise UnsupportedMediaType(f'{path} takes the JSON object {{"parts": [...]}}, not {media_type}')
    elif kind is BodyKind.MULTIPART and media_type != "multipart/form-data":
        raise UnsupportedMediaType(f"{path} takes multipart/form-data with one or more files")


def normalise(route: ApiRoute, media_type: str, body: bytes, max_items: int) -> tuple[bytes, bytes]:
    """The body and Content-Type BentoML should see; 400/413 for a body the route cannot take."""
    kind = route.body
    if kind is BodyKind.OBJECT:
        return _json_object(body), b"application/json"
    if not body.strip() if kind in (BodyKind.TEXT, BodyKind.JSON_LIST, BodyKind.PARTS) else not body:
        raise EmptyInput("the request body is empty; send the text or image bytes as the body")
    if kind in (BodyKind.IMAGE, BodyKind.MULTIPART):
        return body, b"application/octet-stream"
    if kind is BodyKind.PARTS:  # checked here (400 before any work), read again by the service
        parse_parts(parse_json(body), max_image_bytes=len(body))
        return body, b"application/octet-stream"
    if kind is BodyKind.JSON_LIST:
        return _json_list(body, max_items), b"application/json"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidText(f"the text is not valid UTF-8 (byte {exc.start}): send UTF-8 text") from exc
    if media_type == "application/json":
        text = _text_from_json(text)
    if "\x00" in text:
        raise InvalidText("the text contains NUL characters")
    if not text.strip():
        raise EmptyInput("the text is empty")
    return text.encode("utf-8"), b"text/plain; charset=utf-8"


def parse_json(raw: bytes | str) -> Any:
    """``json.loads`` that fails with a 400 for everything Python's parser chokes on."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidJson(f"the body is not valid JSON: {exc.msg} (position {exc.pos})") from None
    except RecursionError:
        raise InvalidJson("the JSON is nested too deeply") from None
    except (ValueError, TypeError):  # e.g. an integer with more than 4300 digits, bytes not UTF-8
        raise InvalidJson(
            "the body is not JSON this service can read (a number too long or bad bytes)"
        ) from None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text_from_json(raw: str) -> str:
    value = parse_json(raw)
    if isinstance(value, dict):
        value = value.get("text", value.get("query"))
    if not isinstance(value, str):
        raise InvalidText('send a JSON string or {"text": "..."}')
    if not _encodable(value):
        raise InvalidJson("the JSON string contains a lone surrogate (\\ud800-\\udfff), which is not text")
    return value


def _json_list(body: bytes, max_items: int) -> bytes:
    """A JSON list (or {"texts": [...]}) -> a flat list of strings and item errors; else 400/413."""
    value = parse_json(body)
    if isinstance(value, dict):
        value = value.get("texts")
    if not isinstance(value, list):
        raise InvalidText('send a JSON list of strings, e.g. ["a dog", "a cat"]')
    if not value:
        raise EmptyInput("the list is empty")
    if len(value) > max_items:
        raise PayloadTooLarge(f"{len(value)} items; the limit is {max_items} (CLIPVEC_MAX_BATCH_ITEMS)")
    items: list[Any] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            items.append({ITEM_ERROR: f"item {i} is {_json_kind(item)}, not a string"})
        elif not _encodable(item):
            items.append(
                {ITEM_ERROR: f"item {i} contains a lone surrogate (\\ud800-\\udfff), which is not text"}
            )
        elif "\x00" in item:
            items.append({ITEM_ERROR: f"item {i} contains NUL characters"})
        else:
            items.append(item)
    return json.dumps(items).encode()


def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _json_object(body: bytes) -> bytes:
    if body.strip():
        value = parse_json(body)
        if not isinstance(value, dict):
            raise InvalidJson("send an empty body or the JSON object {}")
    return b"{}"
