"""The real OpenAPI document for ``/docs.json``.

BentoML describes every positional-only ``bytes`` parameter as a ``text/plain`` body and
knows nothing about the query parameters the routes read or the error answers they give.
:func:`patch_openapi` rewrites its document so that Swagger's "Try it out" and generated
clients send what the service takes (image bytes, multipart files, text, JSON) and know
every answer (``{"error", "detail"}`` for all 4xx/5xx). Which routes exist, what body
kind and query parameters each takes and whether it uses the store come from
:mod:`clipvec.serving.routes`; this module only says how each is described.
"""

from __future__ import annotations

import copy
from typing import Any

from clipvec import __version__
from clipvec.search.arithmetic import MAX_PARTS, MAX_TEXT_CHARS, MAX_WEIGHT
from clipvec.search.filter_params import BLANK_CHARS
from clipvec.serving.routes import (
    API_BY_PATH,
    API_ROUTES,
    GET_ROUTES,
    IMPORT_FOLDER,
    ApiRoute,
    BodyKind,
    GetRoute,
)

ERROR_REF = {"$ref": "#/components/schemas/Error"}
BINARY = {"type": "string", "format": "binary"}
IMAGE_BYTES = {**BINARY, "minLength": 1}  # an empty body is 400
# What the service refuses with 400, declared so that clients and fuzzers know: an empty or
# all-whitespace text (str.strip()'s whitespace), and NUL anywhere in it.
TEXT = {"type": "string", "minLength": 1, "pattern": rf"^[^\x00]*[^\x00{BLANK_CHARS}][^\x00]*$"}

IMAGE_BODY = {
    "required": True,
    "description": "The raw image bytes (JPEG, PNG, WebP, GIF, BMP, TIFF, TGA, Radiance HDR, AVIF); "
    "the format is read from the bytes.",
    "content": {"image/*": {"schema": IMAGE_BYTES}, "application/octet-stream": {"schema": IMAGE_BYTES}},
}
TEXT_BODY = {
    "required": True,
    "description": 'The text, as UTF-8 text/plain or a JSON string / {"text": "..."}.',
    "content": {
        "text/plain": {"schema": TEXT},
        "application/json": {
            "schema": {
                "oneOf": [
                    TEXT,
                    {"type": "object", "properties": {"text": TEXT}, "required": ["text"]},
                ]
            }
        },
    },
}
_WEIGHT = {
    "type": "number",
    "minimum": -MAX_WEIGHT,
    "maximum": MAX_WEIGHT,
    "not": {"const": 0},
    "default": 1,
}
PARTS_SCHEMA = {
    "type": "object",
    "properties": {
        "parts": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_PARTS,
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {key: schema, "weight": _WEIGHT},
                        "required": [key],
                        "additionalProperties": False,
                    }
                    for key, schema in (
                        ("text", {**TEXT, "maxLength": MAX_TEXT_CHARS}),
                        ("image_path", TEXT),  # a path: not blank, no NUL
                        (
                            "image_b64",
                            {"type": "string", "minLength": 4, "pattern": "^[A-Za-z0-9+/]*={0,2}$"},
                        ),
                    )
                ]
            },
        }
    },
    "required": ["parts"],
    "additionalProperties": False,
}
BODIES: dict[BodyKind, dict[str, Any]] = {
    BodyKind.IMAGE: IMAGE_BODY,
    BodyKind.TEXT: TEXT_BODY,
    BodyKind.JSON_LIST: {
        "required": True,
        "description": "A JSON list of texts; a bad item gets its own error in the answer.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"description": "a text; any other item gets its own error in the answer"},
                }
            }
        },
    },
    BodyKind.MULTIPART: {
        "required": True,
        "description": "One or more image files; a bad file gets its own error in the answer.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"files": {"type": "array", "items": BINARY, "minItems": 1}},
                    "required": ["files"],
                    "additionalProperties": False,  # every part is an image file (400 otherwise)
                }
            }
        },
    },
    BodyKind.PARTS: {
        "required": True,
        "description": "Query arithmetic: the parts' unit vectors times their weights, summed and "
        "normalised. An image_path is an image of the collection (its stored vector; left out of the "
        "hits), image_b64 an uploaded image; a path the collection lacks or bytes that are not an "
        "image are 400.",
        "content": {"application/json": {"schema": PARTS_SCHEMA}},
    },
    BodyKind.OBJECT: {
        "required": False,
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
}


def _parameters(route: ApiRoute | GetRoute) -> list[dict[str, Any]]:
    """The route's query parameters (all optional) as OpenAPI parameter objects."""
    return [
        {
            "name": param.name,
            "in": "query",
            "required": False,
            "description": param.description,
            "schema": copy.deepcopy(dict(param.schema)),
        }
        for param in route.query
    ]


ERRORS = {
    "400": "Bad input: empty body, NUL in a text, invalid JSON or text, undecodable image, "
    "bad, unknown or repeated query parameter",
    "401": "API key missing or wrong (only when CLIPVEC_API_KEY is set)",
    "403": "A browser request from another web origin",
    "404": "No such route",
    "405": "Wrong method",
    "408": "The body stalled or arrived too slowly",
    "413": "Body, image or batch too large",
    "415": "Wrong media type, or not an image format the service reads",
    "421": "The Host header names neither this service nor an allowed host (CLIPVEC_ALLOWED_HOSTS)",
    "429": "Too many requests being processed",
    "500": "Internal error (a bug; the service log has the details)",
    "503": "The image store (Milvus) or the model is unavailable",
}


def _error_responses(route: ApiRoute | GetRoute) -> dict[str, Any]:
    codes = dict(ERRORS)
    if route.writes:
        codes["507"] = "The images folder or the store's disk is full"
    if route.uses_store:
        codes["409"] = "The collection was made by another model"
    return {
        code: {"description": text, "content": {"application/json": {"schema": ERROR_REF}}}
        for code, text in sorted(codes.items())
    }


def patch_openapi(doc: dict[str, Any]) -> dict[str, Any]:
    """BentoML's OpenAPI document with the real bodies, parameters, answers and title."""
    doc = copy.deepcopy(doc)
    doc["info"] = {
        "title": "clipvec",
        "version": __version__,
        "description": "CLIP vectors for images and texts, and search by meaning over a Milvus collection. "
        'Every error is JSON {"error": code, "detail": text}.',
    }
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
        "required": ["error", "detail"],
        "additionalProperties": False,
    }
    components["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "Only when the service runs with CLIPVEC_API_KEY.",
        }
    }
    for path, item in doc.get("paths", {}).items():
        route = API_BY_PATH.get(path)
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            if route is not None and method == "post":
                operation["requestBody"] = copy.deepcopy(BODIES[route.body])
                operation["parameters"] = _parameters(route)
                operation["security"] = [{}, {"bearer": []}]
                ok = operation.get("responses", {}).get("200", {"description": "OK"})
                operation["responses"] = {"200": ok, **_error_responses(route)}
                if route is IMPORT_FOLDER:  # a run started; 200 when one was already going on
                    operation["responses"]["202"] = {**ok, "description": "An import run started"}
    for get in GET_ROUTES:  # served beside BentoML (clipvec.serving.get_api): not in its document
        doc.setdefault("paths", {})[get.path] = {"get": _get_operation(get)}
    return doc


def _get_operation(route: GetRoute) -> dict[str, Any]:
    ok = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    return {
        "operationId": route.name,
        "summary": route.summary,
        "parameters": _parameters(route),
        "security": [{}, {"bearer": []}],
        "responses": {"200": ok, **_error_responses(route)},
    }


# What BentoML's own client (``bentoml.SyncHTTPClient``) reads from ``/schema.json`` to build
# requests. It sends a positional ``bytes`` argument as the raw body (accepted by the image
# routes); for the batch route it must know the body is multipart with a list of files.
MULTIPART_CLIENT_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {"files": {"type": "array", "items": {"type": "file", "format": "binary"}}},
    "required": ["files"],
}
_MULTIPART_NAMES = frozenset(r.name for r in API_ROUTES if r.body is BodyKind.MULTIPART)


def patch_client_schema(doc: dict[str, Any]) -> dict[str, Any]:
    """BentoML's ``/schema.json`` with the multipart routes described as lists of files."""
    doc = copy.deepcopy(doc)
    for route in doc.get("routes", []):
        if isinstance(route, dict) and route.get("name") in _MULTIPART_NAMES:
            route["input"] = copy.deepcopy(MULTIPART_CLIENT_INPUT)
    return doc
