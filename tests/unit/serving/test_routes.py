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


def test_the_documented_pixel_filters_are_what_the_service_takes():
    """min_width / min_height: a pixel count up to DIMENSION_MAX, or nothing (an empty form field)."""
    import re

    from clipvec.errors import ClipvecError
    from clipvec.search.filter_params import DIMENSION_MAX, parse_dimension

    pattern = re.compile(routes.PIXELS_OR_NOTHING["pattern"])
    for text in ["", " ", "0", "7", "999999", str(DIMENSION_MAX), "0000001", "0999999", " 5 "]:
        assert pattern.match(text), text
        assert not text.strip() or parse_dimension("min_width", text) <= DIMENSION_MAX
    for text in [str(DIMENSION_MAX + 1), "12a", "-1", "1.5", "10000000"]:
        assert not pattern.match(text), text
        with pytest.raises(ClipvecError):
            parse_dimension("min_width", text)
