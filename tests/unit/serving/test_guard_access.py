"""The guard's access rules: the optional API key (header or the page's cookie) and web origins.

In-process twins of tests/e2e/test_hardening.py's test_api_key_guards_every_data_route and
test_cross_site_writes_are_403 (those also check a real service behind the guard).
"""

from __future__ import annotations

import pytest
from asgi_driver import echoed, guarded_client

from clipvec.serving.guard.access import bearer, cookie, origin_key, parse_origins
from clipvec.serving.routes import API_ROUTES, COOKIE_PATHS, PUBLIC_PATHS

KEY = "s3cret-key-for-tests"
TEXT = {"Content-Type": "text/plain"}


def assert_refused(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["x-content-type-options"] == "nosniff"
    body = resp.json()
    assert set(body) == {"error", "detail"} and body["error"] == code, body
    return body


@pytest.fixture(scope="module")
def keyed():
    return guarded_client(api_key=KEY)


@pytest.mark.parametrize("route", [r.path for r in API_ROUTES])
@pytest.mark.parametrize(
    "auth",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": f"Basic {KEY}"}],
    ids=["none", "wrong", "no-scheme", "basic"],
)
def test_every_api_route_needs_the_key(keyed, route, auth):
    resp = keyed.post(route, content=b"x", headers=auth)
    body = assert_refused(resp, 401, "unauthorized")
    assert "CLIPVEC_API_KEY" in body["detail"] and KEY not in body["detail"]
    assert resp.headers["www-authenticate"] == 'Bearer realm="clipvec"'


@pytest.mark.parametrize("value", [f"Bearer {KEY}", f"bearer   {KEY}  "])
def test_the_bearer_key_lets_a_request_through(keyed, value):
    resp = keyed.post("/vectorize_text", content=b"a dog", headers={**TEXT, "Authorization": value})
    assert echoed(resp)["body"] == "a dog"


def test_without_a_configured_key_everyone_is_let_in():
    resp = guarded_client().post("/vectorize_text", content=b"a dog", headers=TEXT)
    assert echoed(resp)["body"] == "a dog"


@pytest.mark.parametrize("path", sorted(PUBLIC_PATHS) + ["/static_content/swagger.js"])
def test_health_page_shell_and_api_description_need_no_key(keyed, path):
    assert echoed(keyed.get(path))["path"] == path


@pytest.mark.parametrize("path", ["/schema.json", "/ui/thumb", "/ui/file", "/ui/other", "/no-such-route"])
def test_everything_else_needs_the_key(keyed, path):
    assert_refused(keyed.get(path, params={"path": "a.png"}), 401, "unauthorized")


@pytest.mark.parametrize("path", sorted(COOKIE_PATHS))
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_the_page_image_routes_take_the_key_cookie(keyed, path, method):
    resp = keyed.request(
        method, path, params={"path": "a.png"}, headers={"Cookie": f"a=1; clipvec_key={KEY}"}
    )
    assert resp.status_code == 200, resp.text


def test_the_cookie_is_percent_decoded():
    client = guarded_client(api_key="k y/+")
    assert client.get("/ui/thumb", headers={"Cookie": "clipvec_key=k%20y%2F%2B"}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/vectorize_text"), ("GET", "/schema.json"), ("POST", "/ui/thumb"), ("GET", "/ui/other")],
)
def test_the_cookie_opens_nothing_else(keyed, method, path):
    resp = keyed.request(method, path, content=b"a dog", headers={**TEXT, "Cookie": f"clipvec_key={KEY}"})
    assert_refused(resp, 401, "unauthorized")


def test_a_wrong_or_empty_cookie_is_refused(keyed):
    for value in ("clipvec_key=wrong", "clipvec_key=", "other=" + KEY):
        assert_refused(keyed.get("/ui/thumb", headers={"Cookie": value}), 401, "unauthorized")


# --------------------------------------------------------------------------- origins
@pytest.fixture(scope="module")
def client():
    return guarded_client(allowed_origins="https://photos.example.org, HTTP://Other.Example:80,  ,null")


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "null", "http://127.0.0.1:1", "http://testserver:8080", "ftp://testserver"],
)
@pytest.mark.parametrize("route", ["/add_image", "/search_text", "/no-such-route", "/livez"])
def test_cross_site_writes_are_403(client, origin, route):
    resp = client.post(route, content=b"dog", headers={**TEXT, "Origin": origin})
    body = assert_refused(resp, 403, "forbidden")
    assert "CLIPVEC_ALLOWED_ORIGINS" in body["detail"]


@pytest.mark.parametrize(
    "origin",
    [
        "http://testserver",
        "HTTP://TestServer:80",
        "https://photos.example.org",
        "https://photos.example.org:443",
        "http://other.example",
    ],
)
def test_own_and_allowed_origins_may_write(client, origin):
    resp = client.post("/vectorize_text", content=b"dog", headers={**TEXT, "Origin": origin})
    assert echoed(resp)["body"] == "dog"


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_reads_from_any_origin_are_not_refused_here(client, method):
    resp = client.request(method, "/livez", headers={"Origin": "https://evil.example"})
    assert resp.status_code == 200


def test_the_key_is_checked_before_the_origin():
    resp = guarded_client(api_key=KEY).post(
        "/search_text", content=b"dog", headers={"Origin": "https://evil.example"}
    )
    assert_refused(resp, 401, "unauthorized")


@pytest.mark.parametrize(
    ("origin", "key"),
    [
        ("HTTP://Example.COM:80", "http://example.com"),
        ("https://example.com:443", "https://example.com"),
        ("https://example.com:8443", "https://example.com:8443"),
        ("http://[::1]:80", "http://[::1]"),
        (" http://a.b ", "http://a.b"),
        ("null", None),
        ("file:///etc", None),
        ("http://a:99999", None),
        ("http://", None),
    ],
)
def test_origin_key(origin, key):
    assert origin_key(origin) == key


def test_parse_origins():
    assert parse_origins(" https://A.example ,null,, http://b.example:80") == {
        "https://a.example",
        "http://b.example",
    }


def test_bearer_and_cookie_parsing():
    assert bearer("Bearer abc") == "abc" and bearer("BEARER  abc ") == "abc"
    assert bearer("Bearer ") is None and bearer("abc") is None and bearer("Basic abc") is None
    assert cookie("a=1; clipvec_key=x%3Dy; b=2", "clipvec_key") == "x=y"
    assert cookie("clipvec_key=; b=2", "clipvec_key") is None and cookie("", "clipvec_key") is None
