"""The real OpenAPI document for ``/docs.json``.

BentoML describes every positional-only ``bytes`` parameter as a ``text/plain`` body and
knows nothing about the query parameters the routes read or the error answers they give.
:func:`patch_openapi` rewrites its document so that Swagger's "Try it out" and generated
clients send what the service takes (image bytes, multipart files, text, JSON) and know
every answer (``{"error", "detail"}`` for all 4xx/5xx).
"""

from __future__ import annotations

import copy
from typing import Any

from clipvec import __version__

ERROR_REF = {"$ref": "#/components/schemas/Error"}
BINARY = {"type": "string", "format": "binary"}
TEXT = {"type": "string", "minLength": 1, "pattern": r"\S"}

IMAGE_BODY = {
    "required": True,
    "description": "The raw image bytes (JPEG, PNG, WebP, GIF, BMP, TIFF, TGA, Radiance HDR, AVIF); "
    "the format is read from the bytes.",
    "content": {"image/*": {"schema": BINARY}, "application/octet-stream": {"schema": BINARY}},
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
BODIES: dict[str, dict[str, Any]] = {
    "/vectorize_image": IMAGE_BODY,
    "/search_image": IMAGE_BODY,
    "/add_image": IMAGE_BODY,
    "/vectorize_text": TEXT_BODY,
    "/search_text": TEXT_BODY,
    "/vectorize_texts": {
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
    "/vectorize_images": {
        "required": True,
        "description": "One or more image files; a bad file gets its own error in the answer.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"files": {"type": "array", "items": BINARY, "minItems": 1}},
                    "required": ["files"],
                }
            }
        },
    },
    "/collection_info": {
        "required": False,
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
}

SEARCH_PARAMS = [
    {
        "name": "top_k",
        "in": "query",
        "required": False,
        "description": "How many hits (plain digits, 1-1000; default CLIPVEC_TOP_K).",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
    },
    {
        "name": "min_score",
        "in": "query",
        "required": False,
        "description": "Only hits at least this close (COSINE/IP: score >= min_score; L2: distance <= it).",
        "schema": {"type": "number"},
    },
    {
        "name": "path_prefix",
        "in": "query",
        "required": False,
        "description": "Only images whose path starts with this, e.g. holiday/.",
        "schema": {"type": "string"},
    },
]
PARAMS: dict[str, list[dict[str, Any]]] = {
    "/search_text": SEARCH_PARAMS,
    "/search_image": SEARCH_PARAMS,
    "/add_image": [
        {
            "name": "name",
            "in": "query",
            "required": False,
            "description": "File name to keep (only letters, digits, '.', '_' and '-' are kept).",
            "schema": {"type": "string"},
        }
    ],
}

ERRORS = {
    "400": "Bad input: empty body, invalid JSON or text, undecodable image, bad query parameter",
    "401": "API key missing or wrong (only when CLIPVEC_API_KEY is set)",
    "403": "A browser request from another web origin",
    "404": "No such route",
    "405": "Wrong method",
    "408": "The body stalled or arrived too slowly",
    "413": "Body, image or batch too large",
    "415": "Wrong media type, or not an image format the service reads",
    "429": "Too many requests being processed",
    "500": "Internal error (a bug; the service log has the details)",
    "503": "The image store (Milvus) or the model is unavailable",
}
STORE_ROUTES = frozenset({"/search_text", "/search_image", "/add_image", "/collection_info"})


def _error_responses(path: str) -> dict[str, Any]:
    codes = dict(ERRORS)
    if path == "/add_image":
        codes["507"] = "The images folder or the store's disk is full"
    if path == "/add_image" or path in STORE_ROUTES:
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
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            if path in BODIES and method == "post":
                operation["requestBody"] = copy.deepcopy(BODIES[path])
                operation["parameters"] = copy.deepcopy(PARAMS.get(path, []))
                operation["security"] = [{}, {"bearer": []}]
                ok = operation.get("responses", {}).get("200", {"description": "OK"})
                operation["responses"] = {"200": ok, **_error_responses(path)}
    return doc


# What BentoML's own client (``bentoml.SyncHTTPClient``) reads from ``/schema.json`` to build
# requests. It sends a positional ``bytes`` argument as the raw body (accepted by the image
# routes); for the batch route it must know the body is multipart with a list of files.
CLIENT_INPUTS: dict[str, dict[str, Any]] = {
    "vectorize_images": {
        "type": "object",
        "properties": {"files": {"type": "array", "items": {"type": "file", "format": "binary"}}},
        "required": ["files"],
    },
}


def patch_client_schema(doc: dict[str, Any]) -> dict[str, Any]:
    """BentoML's ``/schema.json`` with the batch image route described as multipart files."""
    doc = copy.deepcopy(doc)
    for route in doc.get("routes", []):
        if isinstance(route, dict) and route.get("name") in CLIENT_INPUTS:
            route["input"] = copy.deepcopy(CLIENT_INPUTS[route["name"]])
    return doc
