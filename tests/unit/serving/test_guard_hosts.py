"""The Host allow-list against DNS rebinding (421), and the Origin check that follows from it.

In-process twins of tests/e2e/test_hostile_headers.py (which checks the same over real HTTP
against a real ``bentoml serve``).
"""

from __future__ import annotations

import json

import pytest
from asgi_driver import echo_app, echoed, guarded_client, run, websocket

from clipvec.serving.guard import RequestGuard
from clipvec.serving.guard.hosts import HostPolicy, canonical, parse_hosts, split_host
from clipvec.serving.routes import HEALTH_PATHS

TEXT = {"Content-Type": "text/plain"}
DATA_ROUTES = [("POST", "/search_text"), ("GET", "/ui/file"), ("POST", "/add_image"), ("GET", "/ui/")]


def assert_misdirected(resp) -> dict:
    status = getattr(resp, "status_code", None) or resp.status
    assert status == 421, (status, resp.text if hasattr(resp, "text") else resp.body)
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert set(body) == {"error", "detail"} and body["error"] == "misdirected_request", body
    assert "CLIPVEC_ALLOWED_HOSTS" in body["detail"]
    return body


@pytest.fixture(scope="module")
def client():
    return guarded_client()


# --------------------------------------------------------------------------- Host
@pytest.mark.parametrize(("method", "path"), DATA_ROUTES)
@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:3000", "localhost.evil.example", "127.0.0.1.evil.example", "10.1.2.3"],
)
def test_a_foreign_host_is_421(client, method, path, host):
    resp = client.request(
        method, path, params={"path": "a.png"}, content=b"dog", headers={**TEXT, "Host": host}
    )
    assert host[:60] in assert_misdirected(resp)["detail"]


@pytest.mark.parametrize(("method", "path"), DATA_ROUTES)
def test_a_rebinding_page_is_421_even_with_a_matching_origin(client, method, path):
    headers = {**TEXT, "Host": "evil.example:3000", "Origin": "http://evil.example:3000"}
    assert_misdirected(client.request(method, path, content=b"dog", headers=headers))


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:3000",
        "LocalHost.:3000",
        "app.localhost:3000",
        "127.0.0.1",
        "127.0.0.1:3000",
        "127.8.9.10:1",
        "[::1]:3000",
        "[::1]",
        "testserver",  # the address the connection arrived on (scope["server"])
    ],
)
def test_loopback_and_own_hosts_pass(client, host):
    resp = client.post("/search_text", content=b"dog", headers={**TEXT, "Host": host})
    assert echoed(resp)["body"] == "dog"


@pytest.mark.parametrize(
    "host", ["evil.example:abc", "a b", "::1", "[::1", "[evil]:80", "x:99999", "%65vil.example", ":80"]
)
def test_a_malformed_host_is_421(client, host):
    assert_misdirected(client.post("/search_text", content=b"dog", headers={**TEXT, "Host": host}))


@pytest.mark.parametrize("path", sorted(HEALTH_PATHS))
def test_health_and_metrics_answer_any_host(client, path):
    """Orchestrators probe with whatever Host they like (Kubernetes: the pod IP); these show no data."""
    assert echoed(client.get(path, headers={"Host": "10.244.1.7:3000"}))["path"] == path


def test_the_address_the_connection_arrived_on_passes():
    """Bound to 0.0.0.0, the client reaches one of the machine's addresses: that one is the service's."""
    guard = RequestGuard(echo_app)
    for server, host in [
        (("10.0.0.5", 3000), "10.0.0.5:3000"),
        (("::ffff:10.0.0.5", 3000), "10.0.0.5"),  # a dual-stack socket's IPv4 client
        (("fd00::5", 3000), "[FD00:0::5]:3000"),
    ]:
        assert (
            run(guard, "POST", "/search_text", headers=TEXT, chunks=[b"dog"], host=host, server=server).status
            == 200
        )
    answer = run(
        guard, "POST", "/search_text", chunks=[b"dog"], host="10.0.0.6:3000", server=("10.0.0.5", 3000)
    )
    assert answer.status == 421


def test_a_request_without_host_passes():
    """HTTP/1.0 may omit Host; a browser never does, so there is nothing to rebind."""
    answer = run(RequestGuard(echo_app), "POST", "/search_text", headers=TEXT, chunks=[b"dog"], host=None)
    assert echoed(answer)["body"] == "dog"


def test_the_host_is_checked_before_the_key():
    resp = guarded_client(api_key="k").post("/search_text", content=b"dog", headers={"Host": "evil.example"})
    assert_misdirected(resp)


def test_the_machine_name_passes():
    guard = RequestGuard(echo_app)
    guard.config.hosts = parse_hosts("", machine="Box.Lan.Example")
    for host in ("box.lan.example:3000", "box", "BOX:3000"):
        assert run(guard, "POST", "/search_text", headers=TEXT, chunks=[b"dog"], host=host).status == 200
    assert run(guard, "POST", "/search_text", chunks=[b"dog"], host="lan.example").status == 421


# --------------------------------------------------------------------------- CLIPVEC_ALLOWED_HOSTS
def test_allowed_hosts_extend_the_list():
    client = guarded_client(
        allowed_hosts=" Clip.Example.com:443 , *.photos.example, https://other.example/x, 192.0.2.7"
    )
    for host in (
        "clip.example.com",
        "clip.example.com:8080",
        "a.photos.example",
        "b.a.photos.example:1",
        "other.example",
        "192.0.2.7:3000",
    ):
        resp = client.post("/search_text", content=b"dog", headers={**TEXT, "Host": host})
        assert echoed(resp)["body"] == "dog", host
    for host in ("photos.example", "example.com", "evil.example", "xphotos.example"):
        assert_misdirected(client.post("/search_text", content=b"dog", headers={**TEXT, "Host": host}))


def test_a_star_lets_any_host_through():
    resp = guarded_client(allowed_hosts="*").post(
        "/search_text", content=b"dog", headers={**TEXT, "Host": "anything.example"}
    )
    assert echoed(resp)["body"] == "dog"


def test_parse_hosts_drops_what_is_no_host(caplog):
    policy = parse_hosts("a.example,, bad host ,*.b.example,*,[::1]:3000", machine="m")
    assert policy == HostPolicy(frozenset({"a.example", "m", "::1"}), (".b.example",), True)
    assert "bad host" in caplog.text


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("Example.COM", ("example.com", None)),
        ("example.com.:8080", ("example.com", 8080)),
        ("[::1]:3000", ("::1", 3000)),
        ("[::FFFF:127.0.0.1]", ("127.0.0.1", None)),
        ("127.0.0.1:", ("127.0.0.1", None)),
        ("x:65536", None),
        ("x:-1", None),
        ("x:١", None),  # a non-ASCII digit
        ("", None),
        ("a..b", None),
    ],
)
def test_split_host(value, parsed):
    assert split_host(value) == parsed


def test_canonical():
    assert canonical("[::ffff:10.0.0.5]") == "10.0.0.5" and canonical("A.B.") == "a.b"


# --------------------------------------------------------------------------- Origin
@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("localhost:3000", "http://localhost:3000"),
        ("localhost:3000", "http://127.0.0.1:3000"),  # another name of the same service
        ("127.0.0.1:3000", "http://[::1]:3000"),
        ("testserver", "http://testserver"),
    ],
)
def test_a_page_of_the_service_may_write(host, origin):
    resp = guarded_client().post(
        "/search_text", content=b"dog", headers={**TEXT, "Host": host, "Origin": origin}
    )
    assert echoed(resp)["body"] == "dog"


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("localhost:3000", "http://localhost:8080"),  # another port: another origin
        ("localhost:3000", "http://evil.example:3000"),  # the rebinding domain, Host not rebound
        ("127.0.0.1:3000", "http://10.1.2.3:3000"),
    ],
)
def test_other_origins_may_not_write(host, origin):
    resp = guarded_client().post(
        "/search_text", content=b"dog", headers={**TEXT, "Host": host, "Origin": origin}
    )
    assert resp.status_code == 403 and resp.json()["error"] == "forbidden"


def test_behind_a_tls_proxy_the_allowed_name_is_the_origin():
    """The proxy forwards Host: clip.example.com; the page is https, the service sees http."""
    client = guarded_client(allowed_hosts="clip.example.com")
    headers = {**TEXT, "Host": "clip.example.com", "Origin": "https://clip.example.com"}
    assert echoed(client.post("/search_text", content=b"dog", headers=headers))["body"] == "dog"
    headers["Origin"] = "https://clip.example.com:8443"
    assert client.post("/search_text", content=b"dog", headers=headers).status_code == 403


def test_with_a_star_only_the_forwarded_host_is_an_own_origin():
    """``*``: the proxy vouches for Host, so Origin must match it; any origin would be any site."""
    client = guarded_client(allowed_hosts="*")
    own = {**TEXT, "Host": "clip.example.com", "Origin": "https://clip.example.com"}
    assert echoed(client.post("/search_text", content=b"dog", headers=own))["body"] == "dog"
    other = {**own, "Origin": "https://evil.example"}
    assert client.post("/search_text", content=b"dog", headers=other).status_code == 403


# --------------------------------------------------------------------------- WebSocket
def denial(messages: list[dict]) -> tuple[int, dict]:
    start, body = messages
    assert start["type"] == "websocket.http.response.start" and body["type"] == "websocket.http.response.body"
    assert (b"content-type", b"application/json") in start["headers"]
    return start["status"], json.loads(body["body"])


def test_a_websocket_upgrade_gets_a_json_refusal():
    status, body = denial(websocket(RequestGuard(echo_app), "/search_text"))
    assert status == 400 and body["error"] == "websocket_unsupported" and set(body) == {"error", "detail"}


def test_a_websocket_upgrade_to_a_foreign_host_is_421():
    status, body = denial(websocket(RequestGuard(echo_app), "/ui/file", host="evil.example"))
    assert status == 421 and body["error"] == "misdirected_request"


def test_a_server_without_the_denial_extension_gets_a_close():
    assert websocket(RequestGuard(echo_app), "/x", denial_extension=False) == [
        {"type": "websocket.close", "code": 1008}
    ]
