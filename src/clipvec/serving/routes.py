"""Every HTTP route of the service, in one table.

The BentoML service (``@bentoml.api(route=...)``), the request guard (which bodies it
reads, which media types and query parameters it takes, which paths need no key) and the
OpenAPI patch (request bodies, parameters, error answers) all read this module, so a route
is added or changed here once. ``tests/unit/serving/test_routes.py`` checks that the
service's APIs and :data:`API_ROUTES` agree both ways.

It also declares the side channel from the guard to the service: the guard rewrites the
request it has vetted, and these are the two marks it leaves for the service to read.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from clipvec.search.filter_params import (
    DIMENSION_DOC_PATTERN,
    FORMATS_DOC_PATTERN,
    NAME_DOC_PATTERN,
    NEAR_DOC_PATTERN,
    ORIENTATION_DOC_PATTERN,
    SORT_DOC_PATTERN,
    WHEN_DOC_PATTERN,
)
from clipvec.search.options import PATH_PREFIX_MAX


class BodyKind(str, enum.Enum):
    """What an API route takes as its POST body (the guard vets it, OpenAPI describes it)."""

    TEXT = "text"  # UTF-8 text/plain, or a JSON string / {"text": ...}
    IMAGE = "image"  # the raw image bytes
    JSON_LIST = "json-list"  # a JSON list of texts (or {"texts": [...]})
    MULTIPART = "multipart"  # multipart/form-data with one or more files
    OBJECT = "object"  # an empty body or the JSON object {}
    PARTS = "parts"  # {"parts": [{"text" | "image_path" | "image_b64": ..., "weight": 1.0}]}


@dataclass(frozen=True)
class QueryParam:
    """A query parameter a route reads; any other parameter is refused (a typo like ``topk``)."""

    name: str
    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({"type": "string"}))


@dataclass(frozen=True)
class ApiRoute:
    """One BentoML API: ``POST path``, served by the method ``name`` of the service."""

    path: str
    name: str
    body: BodyKind
    query: tuple[QueryParam, ...] = ()
    uses_store: bool = False  # reads the Milvus collection: may answer 409 (another model) and 503
    writes: bool = False  # stores an image: may answer 507 (a disk is full)

    @property
    def query_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.query)

    @property
    def takes_images(self) -> bool:
        """Its body is one or more images: decoded in the image lane, counted apart by the guard."""
        return self.body in (BodyKind.IMAGE, BodyKind.MULTIPART, BodyKind.PARTS)


def _text(pattern: str) -> Mapping[str, Any]:
    """A query parameter's schema: text that ``pattern`` describes (from the module that reads it)."""
    return MappingProxyType({"type": "string", "pattern": pattern})


SEARCH_QUERY = (
    QueryParam(
        "top_k",
        "How many hits (plain digits, 1-1000; default CLIPVEC_TOP_K).",
        MappingProxyType({"type": "integer", "minimum": 1, "maximum": 1000}),
    ),
    QueryParam(
        "min_score",
        "Only hits at least this close (COSINE/IP: score >= min_score; L2: distance <= it).",
        MappingProxyType({"type": "number"}),
    ),
    QueryParam(
        "path_prefix",
        "Only images whose path starts with this, e.g. holiday/.",
        MappingProxyType(
            {"type": "string", "maxLength": PATH_PREFIX_MAX, "pattern": r"^[^\x00-\x1f\x7f]*$"}
        ),  # longer or with control characters: 400
    ),
    QueryParam(
        "exclude",
        "Leave out the image with this content_hash (e.g. the example of a search by image).",
        MappingProxyType({"type": "string", "pattern": "^([0-9a-f]{64})?$"}),  # empty: none
    ),
    # The photo filters (issue 17.3), applied inside the vector search: the true top_k among the matches.
    QueryParam(
        "taken_after",
        "Only photos taken at or after this ISO date or date-time (2024-05-01, 2024-05-01T18:30, "
        "+02:00 optional; without an offset the photo's own clock). Unknown dates never match.",
        _text(WHEN_DOC_PATTERN),
    ),
    QueryParam(
        "taken_before",
        "Only photos taken before this ISO date or date-time (exclusive).",
        _text(WHEN_DOC_PATTERN),
    ),
    QueryParam(
        "camera",
        "Only photos whose camera make or model contains this, any case (e.g. canon, iphone 12).",
        _text(NAME_DOC_PATTERN),
    ),
    QueryParam(
        "lens",
        "Only photos whose lens name contains this, any case.",
        _text(NAME_DOC_PATTERN),
    ),
    QueryParam(
        "near",
        "Only photos taken within km of a place: lat,lon,km (e.g. 48.8566,2.3522,25).",
        _text(NEAR_DOC_PATTERN),
    ),
    QueryParam(
        "orientation",
        "Only landscape (wider than high), portrait or square images.",
        _text(ORIENTATION_DOC_PATTERN),
    ),
    QueryParam(
        "min_width",
        "Only images at least this many pixels wide (upright).",
        _text(DIMENSION_DOC_PATTERN),
    ),
    QueryParam(
        "min_height",
        "Only images at least this many pixels high (upright).",
        _text(DIMENSION_DOC_PATTERN),
    ),
    QueryParam(
        "format",
        "Only these formats, comma-separated (e.g. jpeg,heic).",
        _text(FORMATS_DOC_PATTERN),
    ),
    QueryParam(
        "sort",
        "score (default): best first; taken: the same hits oldest first, unknown dates last.",
        _text(SORT_DOC_PATTERN),
    ),
)

VECTORIZE_TEXT = ApiRoute("/vectorize_text", "vectorize_text", BodyKind.TEXT)
VECTORIZE_IMAGE = ApiRoute("/vectorize_image", "vectorize_image", BodyKind.IMAGE)
VECTORIZE_TEXTS = ApiRoute("/vectorize_texts", "vectorize_texts", BodyKind.JSON_LIST)
VECTORIZE_IMAGES = ApiRoute("/vectorize_images", "vectorize_images", BodyKind.MULTIPART)
SEARCH_TEXT = ApiRoute("/search_text", "search_text", BodyKind.TEXT, SEARCH_QUERY, uses_store=True)
SEARCH_IMAGE = ApiRoute("/search_image", "search_image", BodyKind.IMAGE, SEARCH_QUERY, uses_store=True)
# Query arithmetic (issue 17.5): weighted texts and example images, one query vector.
SEARCH_COMBINED = ApiRoute(
    "/search_combined", "search_combined", BodyKind.PARTS, SEARCH_QUERY, uses_store=True
)
ADD_IMAGE = ApiRoute(
    "/add_image",
    "add_image",
    BodyKind.IMAGE,
    (QueryParam("name", "File name to keep (only letters, digits, '.', '_' and '-' are kept)."),),
    uses_store=True,
    writes=True,
)
COLLECTION_INFO = ApiRoute("/collection_info", "collection_info", BodyKind.OBJECT, uses_store=True)
# The service imports its own images folder (CLIPVEC_IMAGES_DIR): on a Milvus Lite file no
# other process can while it runs. 202 when a run starts, 200 with the status when one is going on.
IMPORT_FOLDER = ApiRoute("/import", "import_folder", BodyKind.OBJECT, uses_store=True, writes=True)
IMPORT_STATUS = ApiRoute("/import_status", "import_status", BodyKind.OBJECT)

API_ROUTES: tuple[ApiRoute, ...] = (
    VECTORIZE_TEXT,
    VECTORIZE_IMAGE,
    VECTORIZE_TEXTS,
    VECTORIZE_IMAGES,
    SEARCH_TEXT,
    SEARCH_IMAGE,
    SEARCH_COMBINED,
    ADD_IMAGE,
    COLLECTION_INFO,
    IMPORT_FOLDER,
    IMPORT_STATUS,
)
API_BY_PATH: Mapping[str, ApiRoute] = MappingProxyType({r.path: r for r in API_ROUTES})


# ------------------------------------------------------------------ GET routes
@dataclass(frozen=True)
class GetRoute:
    """A ``GET`` API. BentoML's APIs are POST only: these are served by a small Starlette app
    mounted at the root (:mod:`clipvec.serving.get_api`), behind the same guard and key."""

    path: str
    name: str
    query: tuple[QueryParam, ...] = ()
    uses_store: bool = False
    writes: bool = False  # never, but the OpenAPI patch reads it like an ApiRoute's
    summary: str = ""  # the OpenAPI operation's one line

    @property
    def query_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.query)


DUPLICATES = GetRoute(
    "/duplicates",
    "duplicates",
    (
        QueryParam(
            "threshold",
            "Cosine similarity at or above which two images are near-duplicates (0 < t <= 1; default 0.95).",
            MappingProxyType(
                {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1}
            ),  # OpenAPI 3.0
        ),
        SEARCH_QUERY[2],  # path_prefix, checked as in search
        QueryParam(
            "limit",
            "How many groups, the biggest first (plain digits, 1-1000; default 100).",
            MappingProxyType({"type": "integer", "minimum": 1, "maximum": 1000}),
        ),
    ),
    uses_store=True,
    summary="Groups of near-duplicate images (resized, re-encoded, cropped, bursts), biggest first",
)
# Cameras, lenses, formats and the date range with counts (issue 17.4): the page's filter choices.
FACETS = GetRoute(
    "/facets",
    "facets",
    uses_store=True,
    summary="Cameras, lenses and formats with counts, and the range of dates taken (filter choices)",
)
GET_ROUTES: tuple[GetRoute, ...] = (DUPLICATES, FACETS)
GET_BY_PATH: Mapping[str, GetRoute] = MappingProxyType({r.path: r for r in GET_ROUTES})

# ------------------------------------------------------------------ BentoML's own routes
HEALTH_PATHS = frozenset({"/livez", "/healthz", "/readyz", "/metrics"})
SWAGGER_PATH = "/"  # BentoML's Swagger page (its Google Tag Manager snippet is removed)
DOCS_PATH = "/docs.json"  # the OpenAPI document (patched: clipvec.serving.openapi.patch_openapi)
CLIENT_SCHEMA_PATH = "/schema.json"  # read by bentoml.SyncHTTPClient (patch_client_schema)
STATIC_PREFIX = "/static_content/"  # the Swagger page's script and style


# ------------------------------------------------------------------ the search page
UI_MOUNT = "/ui"  # where the page's Starlette app (clipvec.serving.web) is mounted


@dataclass(frozen=True)
class PageRoute:
    """A ``GET`` route of the page, relative to :data:`UI_MOUNT`; ``handler`` names its job."""

    path: str
    handler: str
    shows_images: bool = False  # an image of the collection: needs the key, taken from a cookie too

    @property
    def full_path(self) -> str:
        return UI_MOUNT + self.path


PAGE_ROUTES: tuple[PageRoute, ...] = (
    PageRoute("/", "page"),
    PageRoute("/index.html", "page"),
    PageRoute("/app.js", "script"),
    PageRoute("/style.css", "style"),
    PageRoute("/thumb", "thumb", shows_images=True),
    PageRoute("/file", "file", shows_images=True),
)

# Static shells that hold no data and are needed to enter the key (page, Swagger UI, API description).
PUBLIC_PATHS = HEALTH_PATHS | {
    SWAGGER_PATH,
    DOCS_PATH,
    UI_MOUNT,
    *(r.full_path for r in PAGE_ROUTES if not r.shows_images),
}
PUBLIC_PREFIXES = (STATIC_PREFIX,)
# An <img> cannot send an Authorization header: the page's image routes also take the key
# from this cookie (set by ui/app.js, limited to the page's path), for GET only.
COOKIE_PATHS = frozenset(r.full_path for r in PAGE_ROUTES if r.shows_images)
KEY_COOKIE = "clipvec_key"


def is_public(path: str) -> bool:
    """Health checks and static shells: served without the key and without vetting."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


# ------------------------------------------------------------------ guard -> service side channel
MULTIPART_BOUNDARY = b"x-clipvec-multipart-boundary"
"""Header the guard adds for multipart routes: the boundary it counted the parts with (the
guard hands BentoML the body as ``application/octet-stream``; the service parses it with this
boundary, never with the client's Content-Type, so both split the body alike; a client's own
copy of this header is dropped)."""

ITEM_ERROR = "__clipvec_item_error__"
"""A batch item the guard already found bad: ``{ITEM_ERROR: detail}`` replaces it."""
