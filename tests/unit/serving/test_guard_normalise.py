"""What each route kind may be sent (415, 400, per-item errors) and what BentoML is handed.

In-process twins of the guard's half of tests/e2e/test_hardening.py's
test_unparseable_json_is_400_at_once, test_lone_surrogate_in_a_batch_is_a_per_item_error,
test_collection_info_refuses_forms, test_forms_and_wrong_types_are_415 and the unknown-name
part of test_unknown_query_parameters_and_bad_prefixes_are_400, and of tests/e2e/test_service.py's
test_empty_bodies, test_text_not_utf8, test_json_text_body_is_unwrapped and the guard's part
of test_wrong_media_types. (The service's own half, e.g. turning item markers into
``invalid_text`` results, needs the service and stays in those files.)
"""

from __future__ import annotations

import json

import pytest
from asgi_driver import echoed, guarded_client

from clipvec.search.filter_params import FILTER_PARAMS
from clipvec.serving.guard import InvalidJson, parse_json
from clipvec.serving.routes import API_ROUTES, ITEM_ERROR, MULTIPART_BOUNDARY, BodyKind

ROUTES = {kind: [r.path for r in API_ROUTES if r.body is kind] for kind in BodyKind}
DEEP = "[" * 1000 + "]" * 1000
HUGE_INT = "1" * 5000
SURROGATE = '"\\ud800"'
FORM = "application/x-www-form-urlencoded"
MULTI = "multipart/form-data; boundary=x"


@pytest.fixture(scope="module")
def client():
    return guarded_client(max_batch_items=4)


def post(client, route: str, body: bytes | str, content_type: str | None, **headers: str):
    if content_type is not None:
        headers["Content-Type"] = content_type
    return client.post(route, content=body.encode() if isinstance(body, str) else body, headers=headers)


def assert_error(resp, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert set(body) == {"error", "detail"} and body["detail"], body
    if code is not None:
        assert body["error"] == code, body
    return body


def test_every_route_kind_is_covered():
    assert all(ROUTES[kind] for kind in BodyKind)


# --------------------------------------------------------------------------- 415
REFUSED = {
    BodyKind.IMAGE: [FORM, MULTI, "application/json", "text/html"],
    BodyKind.TEXT: [FORM, MULTI, "image/jpeg", "application/octet-stream"],
    BodyKind.JSON_LIST: ["text/plain", FORM, MULTI],
    BodyKind.OBJECT: ["text/plain", FORM, MULTI],
    BodyKind.MULTIPART: ["multipart/mixed; boundary=x", "image/jpeg", FORM, "application/json"],
    BodyKind.PARTS: ["text/plain", FORM, MULTI, "image/jpeg"],
}
ACCEPTED = {
    BodyKind.IMAGE: [None, "image/jpeg", "image/*", "application/octet-stream", "binary/x", "text/plain"],
    BodyKind.TEXT: [None, "text/plain", "text/plain; charset=utf-8", "application/json"],
    BodyKind.JSON_LIST: [None, "application/json"],
    BodyKind.OBJECT: [None, "application/json"],
    BodyKind.MULTIPART: ["multipart/form-data; boundary=x"],
    BodyKind.PARTS: [None, "application/json"],
}
GOOD_BODY = {
    BodyKind.IMAGE: b"\xff\xd8\xff\xe0",
    BodyKind.TEXT: b'"a dog"',
    BodyKind.JSON_LIST: b'["a dog"]',
    BodyKind.OBJECT: b"{}",
    BodyKind.MULTIPART: b"--x\r\nContent-Disposition: form-data; name=f; filename=a\r\n\r\n1\r\n--x--\r\n",
    BodyKind.PARTS: b'{"parts": [{"text": "a beach"}, {"text": "people", "weight": -1}]}',
}


@pytest.mark.parametrize(
    ("route", "content_type"),
    [(route, ct) for kind, types in REFUSED.items() for route in ROUTES[kind] for ct in types],
)
def test_wrong_media_types_are_415(client, route, content_type):
    assert_error(post(client, route, b"x", content_type), 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("route", "content_type"),
    [(route, ct) for kind, types in ACCEPTED.items() for route in ROUTES[kind] for ct in types],
)
def test_right_media_types_pass(client, route, content_type):
    kind = next(k for k, paths in ROUTES.items() if route in paths)
    assert post(client, route, GOOD_BODY[kind], content_type).status_code == 200


@pytest.mark.parametrize("route", ROUTES[BodyKind.IMAGE])
def test_a_browser_may_not_post_an_image_as_text(client, route):
    """BentoML's client sends bytes as text/plain; a browser always sends Origin, so no form can."""
    resp = post(client, route, b"\xff\xd8\xff", "text/plain", Origin="http://testserver")
    assert_error(resp, 415, "unsupported_media_type")


def test_a_multipart_upload_to_a_single_image_route_is_pointed_to_the_batch_route(client):
    body = assert_error(post(client, "/vectorize_image", b"x", MULTI), 415)
    assert "/vectorize_images" in body["detail"]


# --------------------------------------------------------------------------- empty and bad bodies
@pytest.mark.parametrize(
    ("route", "body", "content_type"),
    [
        ("/vectorize_image", b"", "image/jpeg"),
        ("/add_image", b"", None),
        ("/vectorize_text", b"", "text/plain"),
        ("/vectorize_text", b"  \n", "text/plain"),
        ("/search_text", b'"  "', "application/json"),
        ("/vectorize_texts", b" ", "application/json"),
        ("/vectorize_texts", b"[]", "application/json"),
        ("/vectorize_images", b"", MULTI),
    ],
)
def test_empty_bodies_are_400(client, route, body, content_type):
    assert_error(post(client, route, body, content_type), 400, "empty_body")


@pytest.mark.parametrize(
    "route", ROUTES[BodyKind.TEXT] + ROUTES[BodyKind.OBJECT] + ROUTES[BodyKind.JSON_LIST]
)
@pytest.mark.parametrize("body", [DEEP, HUGE_INT, SURROGATE], ids=["deep", "5000-digits", "surrogate"])
def test_unparseable_json_is_400(client, route, body):
    if route in ROUTES[BodyKind.JSON_LIST] and body == SURROGATE:
        body = "[" + DEEP + "]"  # a surrogate inside a list is a per-item error (below)
    assert_error(post(client, route, body, "application/json"), 400, "invalid_json")


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"\xff\xfe\xfa", "invalid_text"), (b"a\x00b", "invalid_text"), (b'{"other": 1}', "invalid_text")],
)
def test_bad_text_is_400(client, body, code):
    content_type = "application/json" if body.startswith(b"{") else "text/plain"
    assert_error(post(client, "/vectorize_text", body, content_type), 400, code)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"a cat", "text/plain"),
        (b'"a cat"', "application/json"),
        (b'{"text": "a cat"}', "application/json"),
        (b'{"query": "a cat"}', "application/json"),
        (b'"a cat"', None),
    ],
)
def test_text_reaches_the_service_as_plain_utf8(client, body, content_type):
    seen = echoed(post(client, "/search_text", body, content_type))
    expected = "a cat" if content_type else '"a cat"'  # no Content-Type: taken as text as it is
    assert seen["body"] == expected
    assert seen["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert seen["headers"]["content-length"] == str(len(expected))


def test_non_ascii_text_is_passed_on_as_utf8(client):
    seen = echoed(post(client, "/vectorize_text", '{"text": "ein Bär"}', "application/json"))
    assert seen["body"].encode("latin-1").decode("utf-8") == "ein Bär"


# --------------------------------------------------------------------------- JSON lists
def test_bad_items_in_a_list_become_item_errors(client):
    body = '["\\ud800", "a dog", ["nested"], "x\\u0000y"]'
    seen = echoed(post(client, "/vectorize_texts", body, "application/json"))
    assert seen["headers"]["content-type"] == "application/json"
    items = json.loads(seen["body"])
    assert items[1] == "a dog"
    assert "surrogate" in items[0][ITEM_ERROR]
    assert items[2] == {ITEM_ERROR: "item 2 is a list, not a string"}
    assert items[3] == {ITEM_ERROR: "item 3 contains NUL characters"}


def test_item_errors_name_the_json_kind(client):
    seen = echoed(post(client, "/vectorize_texts", '{"texts": [null, true, 1.5, {}]}', "application/json"))
    kinds = [item[ITEM_ERROR] for item in json.loads(seen["body"])]
    assert kinds == [
        "item 0 is null, not a string",
        "item 1 is a boolean, not a string",
        "item 2 is a number, not a string",
        "item 3 is an object, not a string",
    ]


def test_a_list_over_the_batch_limit_is_413(client):
    body = assert_error(
        post(client, "/vectorize_texts", '["a","b","c","d","e"]', None), 413, "payload_too_large"
    )
    assert "CLIPVEC_MAX_BATCH_ITEMS" in body["detail"]


@pytest.mark.parametrize("body", ['"a dog"', '{"text": "a"}', "3"])
def test_a_list_route_takes_only_a_list(client, body):
    assert_error(post(client, "/vectorize_texts", body, "application/json"), 400, "invalid_text")


# --------------------------------------------------------------------------- objects, multipart
@pytest.mark.parametrize("body", [b"", b"  ", b"{}", b'{"anything": [1]}'])
def test_collection_info_takes_nothing_or_an_object(client, body):
    seen = echoed(post(client, "/collection_info", body, None))
    assert seen["body"] == "{}" and seen["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"{"])
def test_collection_info_refuses_other_json(client, body):
    assert_error(post(client, "/collection_info", body, "application/json"), 400, "invalid_json")


def test_multipart_is_passed_on_raw_with_the_boundary_the_guard_read(client):
    # A client's own copy of the side-channel header must not reach the service.
    spoof = {MULTIPART_BOUNDARY.decode(): "y"}
    seen = echoed(post(client, "/vectorize_images", GOOD_BODY[BodyKind.MULTIPART], MULTI, **spoof))
    assert seen["body"].encode("latin-1") == GOOD_BODY[BodyKind.MULTIPART]
    assert seen["headers"]["content-type"] == "application/octet-stream"
    assert seen["headers"][MULTIPART_BOUNDARY.decode()] == "x"


def test_images_are_passed_on_as_octet_streams(client):
    seen = echoed(post(client, "/add_image", b"\x89PNG", "image/png"))
    assert seen["body"] == "\x89PNG" and seen["headers"]["content-type"] == "application/octet-stream"


# --------------------------------------------------------------------------- query parameters
SEARCH_NAMES = ", ".join(sorted({"exclude", "min_score", "path_prefix", "top_k", "sort", *FILTER_PARAMS}))


@pytest.mark.parametrize(
    ("route", "query", "names"),
    [
        ("/search_text", "topk=5", SEARCH_NAMES),
        ("/search_image", "top_k=5&x=1", SEARCH_NAMES),
        ("/add_image", "filename=a.jpg", "name"),
        ("/vectorize_text", "top_k=5", "none"),
        ("/collection_info", "x", "none"),
    ],
)
def test_unknown_query_parameters_are_400(client, route, query, names):
    body = assert_error(client.post(f"{route}?{query}", content=b"x"), 400, "bad_parameter")
    assert body["detail"].endswith(f"(it takes: {names})"), body


@pytest.mark.parametrize(
    ("route", "query"),
    [
        ("/search_text", "top_k=5&min_score=0.2&path_prefix=a/"),
        ("/search_text", "top_k="),  # the service checks the values, not the guard
        ("/add_image", "name=a.jpg"),
    ],
)
def test_known_query_parameters_are_passed_on(client, route, query):
    resp = client.post(f"{route}?{query}", content=b"x", headers={"Content-Type": "text/plain"})
    assert echoed(resp)["query"] == query


@pytest.mark.parametrize(
    ("method", "target", "name"),
    [
        ("POST", "/search_text?top_k=3&top_k=5", "top_k"),
        ("POST", "/search_image?path_prefix=a/&min_score=0.1&path_prefix=b/", "path_prefix"),
        ("POST", "/search_text?top%5Fk=3&top_k=5", "top_k"),  # the same name, percent-encoded
        ("POST", "/add_image?name=a.png&name=b.png", "name"),
        ("POST", "/search_text?topk=1&topk=2", "topk"),
        ("GET", "/ui/file?path=a.png&path=b.png", "path"),
        ("GET", "/ui/thumb?path=a.png&size=128&size=512", "size"),
    ],
)
def test_a_repeated_query_parameter_is_400(client, method, target, name):
    """Refused instead of silently taking the last value, on every route that reads the query."""
    resp = client.request(method, target, content=b"x", headers={"Content-Type": "text/plain"})
    body = assert_error(resp, 400, "bad_parameter")
    assert repr(name) in body["detail"] and "more than once" in body["detail"], body


def test_public_routes_do_not_read_the_query(client):
    assert echoed(client.get("/livez?a=1&a=2"))["query"] == "a=1&a=2"


def test_parse_json_refuses_what_python_chokes_on():
    assert parse_json(b'{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
    for raw, words in [
        (DEEP, "nested too deeply"),
        (HUGE_INT, "number too long"),
        ("{", "not valid JSON"),
        (b"\xff", "bad bytes"),
    ]:
        with pytest.raises(InvalidJson, match=words):
            parse_json(raw)


@pytest.mark.parametrize(
    "body",
    [
        "{}",
        '{"parts": []}',
        '{"parts": "a beach"}',
        '{"parts": [{"text": "a", "image_path": "b.jpg"}]}',
        '{"parts": [{"text": "a", "weight": 0}]}',
        '{"parts": [{"text": "a", "weight": 1e9}]}',
        '{"parts": [{"text": "a", "weight": true}]}',
        '{"parts": [{"text": "   "}]}',
        '{"parts": [{"image_b64": "not base64!"}]}',
        '{"parts": [{"imagepath": "b.jpg"}]}',
        '{"parts": [{"text": "a"}], "top_k": 3}',
        '{"parts": [' + ", ".join(['{"text": "a"}'] * 17) + "]}",
        "[" * 1000,
    ],
)
def test_query_parts_the_search_cannot_take_are_400_before_any_work(client, body):
    resp = post(client, "/search_combined", body, "application/json")
    assert resp.status_code == 400, resp.text[:300]
    assert resp.json()["error"] in ("bad_parameter", "invalid_json")


def test_query_parts_reach_the_service_as_sent(client):
    body = GOOD_BODY[BodyKind.PARTS]
    resp = post(client, "/search_combined", body, "application/json")
    assert resp.status_code == 200 and echoed(resp)["body"] == body.decode()
