"""The one route table agrees with the BentoML service and the page app, both ways."""

from __future__ import annotations

import pytest

from clipvec.search.filter_params import FILTER_PARAMS
from clipvec.serving import routes
from clipvec.serving.routes import (
    API_BY_PATH,
    API_ROUTES,
    COOKIE_PATHS,
    PAGE_ROUTES,
    PUBLIC_PATHS,
    UI_MOUNT,
    BodyKind,
    is_public,
)


@pytest.fixture(scope="module")
def service():
    from clipvec.serving.service import Vectorization

    return Vectorization


def test_the_service_serves_exactly_the_table(service):
    served = {name: api.route for name, api in service.apis.items()}
    assert served == {r.name: r.path for r in API_ROUTES}


def test_routes_are_unique():
    assert len({r.path for r in API_ROUTES}) == len({r.name for r in API_ROUTES}) == len(API_ROUTES)
    assert set(API_BY_PATH) == {r.path for r in API_ROUTES}


def test_the_page_serves_exactly_the_page_routes():
    from clipvec.serving.web.app import HANDLERS, web_app

    served = [(route.path, route.endpoint) for route in web_app.routes]
    assert served == [(r.path, HANDLERS[r.handler]) for r in PAGE_ROUTES]


def test_the_page_is_mounted_where_the_table_says(service):
    from clipvec.serving.web.app import web_app

    mounts = [(app, path) for app, path, *_ in service.mount_apps]
    assert (web_app, UI_MOUNT) in mounts


def test_only_the_page_image_routes_take_the_cookie():
    assert {"/ui/thumb", "/ui/file"} == COOKIE_PATHS
    assert not COOKIE_PATHS & PUBLIC_PATHS


def test_what_is_public():
    assert {"/livez", "/healthz", "/readyz", "/metrics", "/", "/docs.json", "/ui", "/ui/"} <= PUBLIC_PATHS
    assert is_public("/static_content/swagger-ui.css")
    for path in ["/schema.json", "/ui/thumb", "/ui/file", "/ui/other", *API_BY_PATH]:
        assert not is_public(path), path


def test_store_and_write_flags():
    assert {r.path for r in API_ROUTES if r.writes} == {"/add_image", "/import"}
    assert {r.path for r in API_ROUTES if r.uses_store} == {
        "/search_text",
        "/search_image",
        "/search_combined",
        "/add_image",
        "/collection_info",
        "/import",
    }
    assert all(r.uses_store for r in API_ROUTES if r.writes)


def test_query_parameters_are_the_ones_the_service_reads():
    assert (
        routes.SEARCH_TEXT.query_names
        == routes.SEARCH_IMAGE.query_names
        == routes.SEARCH_COMBINED.query_names
        == {"top_k", "min_score", "path_prefix", "exclude", "sort", *FILTER_PARAMS}
    )
    assert routes.FACETS.query_names == set()
    assert routes.ADD_IMAGE.query_names == {"name"}
    assert all(not r.query for r in API_ROUTES if not r.uses_store)
    assert all(p.description and p.schema.get("type") for r in API_ROUTES for p in r.query)


def test_body_kinds():
    kinds = {r.path: r.body for r in API_ROUTES}
    assert kinds == {
        "/vectorize_text": BodyKind.TEXT,
        "/search_text": BodyKind.TEXT,
        "/vectorize_image": BodyKind.IMAGE,
        "/search_image": BodyKind.IMAGE,
        "/add_image": BodyKind.IMAGE,
        "/vectorize_texts": BodyKind.JSON_LIST,
        "/vectorize_images": BodyKind.MULTIPART,
        "/collection_info": BodyKind.OBJECT,
        "/import": BodyKind.OBJECT,
        "/import_status": BodyKind.OBJECT,
        "/search_combined": BodyKind.PARTS,
    }


# Characters that tell a parser's reading and a pattern's apart: every control character and
# every kind of whitespace (Python's and Unicode's differ), letters whose case folds into ASCII
# outside ASCII (Kelvin's K, the long s, the ff ligature, dotted I) and a few separators.
_TRICKY = frozenset(
    {chr(c) for c in [*range(0x21), *range(0x7F, 0xA1)]}
    | {chr(c) for c in range(0x3001) if chr(c).isspace()}
    | set("\u212a\u017f\ufb00\u0130\ufeff\u200b,-+.:Tzé")
)
_EXAMPLES = {  # a few values of each text parameter, accepted and refused
    "path_prefix": ["holiday/", "a b"],
    "exclude": ["0" * 64, "ab" * 32],
    "taken_after": ["2024-05-01", "1999-12-28T18:30", "2024-05-01T18:30:05+02:00", "2000-01-01T00:00Z"],
    "camera": ["J", "Canon EOS", "x" * 256],
    "lens": ["50mm"],
    "near": ["48.8566,2.3522,25", "-90,-180,1"],
    "orientation": ["landscape", "portrait", "square"],
    "min_width": ["0", "35", "1000000", "1000001", "0999999"],
    "format": ["jpeg", "JPG,heic", "tiff,,png,", "tga"],
    "sort": ["score", "taken"],
}


# near's pattern declares plain decimals in range: the parser also takes +1, 1., .5 and 1e1.
_NOT_PROBED = {"near": set("+-.")}


def _variants(name: str, example: str):
    for value in {example, example.upper(), example.title()}:
        yield value
        for ch in _TRICKY - _NOT_PROBED.get(name, set()):
            yield from (ch, ch + value, value + ch, value[:1] + ch + value[1:])


def test_the_documented_query_text_is_exactly_what_the_service_takes():
    """/docs.json's pattern of every text parameter, read as schemathesis reads it (jsonschema-rs),
    accepts exactly what the service does on the values where readings differ: whitespace
    (trimmed; an empty value sets nothing), control characters, case. Otherwise schemathesis
    finds a refused documented value (ST202) or an accepted undocumented one (ST201)."""
    import jsonschema_rs  # schemathesis' validator

    from clipvec.errors import ClipvecError
    from clipvec.search.options import SearchOptions

    def accepted(name: str, value: str) -> bool:
        try:
            SearchOptions.from_query({name: value}, 10)
        except ClipvecError:
            return False
        return True

    schemas = {p.name: p.schema for p in routes.SEARCH_QUERY if p.schema["type"] == "string"}
    assert schemas.keys() == _EXAMPLES.keys() | {"taken_before", "min_height"}
    wrong = []
    for name, examples in _EXAMPLES.items():
        documented = jsonschema_rs.Draft4Validator(dict(schemas[name])).is_valid
        for value in {v for example in examples for v in _variants(name, example)}:
            if (declared := documented(value)) != accepted(name, value):
                wrong.append((name, value, "documented" if declared else "undocumented"))
    assert not wrong, sorted(wrong)[:20]
