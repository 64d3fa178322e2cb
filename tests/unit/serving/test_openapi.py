"""The OpenAPI patch, on the document BentoML makes for this service (in-process, no server).

In-process twin of tests/e2e/test_hardening.py's test_openapi_document_declares_the_real_api
(the e2e test reads it through the guard of a real server; test_schemathesis_finds_nothing
and test_bentoml_client_calls_every_endpoint still need the server).
"""

from __future__ import annotations

import copy
import json

import jsonschema_rs
import pytest

from clipvec import __version__
from clipvec.errors import ClipvecError
from clipvec.search.options import SearchOptions
from clipvec.serving.guard import normalise
from clipvec.serving.openapi import BODIES, ERRORS, TEXT, patch_client_schema, patch_openapi
from clipvec.serving.routes import (
    API_ROUTES,
    HEALTH_PATHS,
    IMPORT_FOLDER,
    SEARCH_TEXT,
    VECTORIZE_TEXT,
    BodyKind,
)


@pytest.fixture(scope="module")
def service():
    from clipvec.serving.service import Vectorization

    return Vectorization


@pytest.fixture(scope="module")
def bentoml_doc(service) -> dict:
    return json.loads(json.dumps(service.openapi_spec.asdict()))  # what /docs.json serves, as JSON


@pytest.fixture(scope="module")
def doc(bentoml_doc) -> dict:
    return patch_openapi(bentoml_doc)


def test_title_version_error_schema_and_security(doc):
    assert doc["info"]["title"] == "clipvec" and doc["info"]["version"] == __version__
    assert doc["components"]["schemas"]["Error"]["required"] == ["error", "detail"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


@pytest.mark.parametrize("route", API_ROUTES, ids=lambda r: r.path)
def test_every_api_route_is_described_from_the_table(doc, route):
    operation = doc["paths"][route.path]["post"]
    assert operation["requestBody"] == BODIES[route.body]
    assert {p["name"] for p in operation["parameters"]} == route.query_names
    assert all(
        p["in"] == "query" and p["required"] is False and p["description"] for p in operation["parameters"]
    )
    assert operation["security"] == [{}, {"bearer": []}]
    responses = operation["responses"]
    assert "200" in responses
    expected = set(ERRORS) | ({"409"} if route.uses_store else set()) | ({"507"} if route.writes else set())
    assert set(responses) - {"200", "202"} == expected
    assert ("202" in responses) == (route is IMPORT_FOLDER)
    for code in expected:
        schema = responses[code]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}


# What the guard and the search options refuse with 400 is declared, so that a fuzzer's valid
# data is accepted (schemathesis ST202) and its invalid data refused; checked both ways here,
# with the JSON Schema validator schemathesis uses (ECMA-262 patterns: "$" is the very end).
SPACES = [chr(c) for c in range(0x3001) if chr(c).isspace()]
TEXTS = ["a dog", " a\tdog ", "é", "a\nb", "b\n", "", "\x00", "a\x00b", "dog\x00", "\ufeff", *SPACES]
TEXTS += [f"{space}a{space}" for space in SPACES] + [space * 2 for space in SPACES]


def valid(schema: dict, value: str) -> bool:
    return jsonschema_rs.validator_for(dict(schema)).is_valid(value)


@pytest.mark.parametrize("text", TEXTS, ids=ascii)
def test_the_text_schema_is_what_the_guard_takes(text):
    try:
        normalise.normalise(VECTORIZE_TEXT, "text/plain", text.encode(), 10)
        taken = True
    except ClipvecError:
        taken = False
    assert valid(TEXT, text) == taken


@pytest.mark.parametrize(
    "prefix", ["", "a/", "é/x y", "a\x00", "\n", "a/\n", "a\x1fb", "\x7f", "x" * 1024, "x" * 1025], ids=ascii
)
def test_the_path_prefix_schema_is_what_the_search_takes(prefix):
    schema = next(p.schema for p in SEARCH_TEXT.query if p.name == "path_prefix")
    try:
        SearchOptions.from_query({"path_prefix": prefix}, 10)
        taken = True
    except ClipvecError:
        taken = False
    assert valid(schema, prefix) == taken


def test_empty_images_and_parts_that_are_not_files_are_declared_refused(doc):
    paths = doc["paths"]
    for route in ("/vectorize_image", "/search_image", "/add_image"):
        for content in paths[route]["post"]["requestBody"]["content"].values():
            assert content["schema"]["minLength"] == 1
    multipart = paths["/vectorize_images"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert multipart["schema"]["additionalProperties"] is False
    assert "NUL" in ERRORS["400"] and "421" in ERRORS


def test_the_real_bodies(doc):
    paths = doc["paths"]
    for route in ("/vectorize_image", "/search_image", "/add_image"):
        assert set(paths[route]["post"]["requestBody"]["content"]) == {"image/*", "application/octet-stream"}
    assert set(paths["/vectorize_images"]["post"]["requestBody"]["content"]) == {"multipart/form-data"}
    assert set(paths["/vectorize_text"]["post"]["requestBody"]["content"]) == {
        "text/plain",
        "application/json",
    }
    top_k = next(p for p in paths["/search_text"]["post"]["parameters"] if p["name"] == "top_k")
    assert top_k["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000}
    assert {p["name"] for p in paths["/add_image"]["post"]["parameters"]} == {"name"}


def test_bentoml_routes_are_left_alone(bentoml_doc, doc):
    for path in HEALTH_PATHS & set(bentoml_doc["paths"]):
        assert doc["paths"][path] == bentoml_doc["paths"][path]


def test_the_input_is_not_changed(bentoml_doc):
    before = copy.deepcopy(bentoml_doc)
    patched = patch_openapi(bentoml_doc)
    assert bentoml_doc == before
    patched["paths"]["/search_text"]["post"]["parameters"][0]["schema"]["maximum"] = 5
    assert (
        patch_openapi(bentoml_doc)["paths"]["/search_text"]["post"]["parameters"][0]["schema"]["maximum"]
        == 1000
    )


def test_the_patched_document_is_json(doc):
    assert json.loads(json.dumps(doc)) == doc


def test_the_client_schema_takes_files_for_multipart_routes(service):
    schema = service.schema()
    patched = patch_client_schema(schema)
    by_name = {r["name"]: r for r in patched["routes"]}
    multipart = {r.name for r in API_ROUTES if r.body is BodyKind.MULTIPART}
    for name, route in by_name.items():
        if name in multipart:
            assert route["input"]["properties"]["files"]["items"] == {"type": "file", "format": "binary"}
        else:
            assert route == next(r for r in schema["routes"] if r["name"] == name)
    assert multipart <= set(by_name)


def test_odd_documents_do_not_break_the_patch():
    assert patch_openapi({})["info"]["title"] == "clipvec"
    assert (
        patch_openapi({"paths": {"/search_text": {"parameters": [], "post": {}}}})["paths"]["/search_text"][
            "parameters"
        ]
        == []
    )
    assert patch_client_schema({"routes": ["odd", {"name": "x"}]}) == {"routes": ["odd", {"name": "x"}]}
