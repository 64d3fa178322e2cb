"""Hostile headers and query strings over real HTTP, against the shared real ``bentoml serve``.

DNS rebinding (issue 21, item 1): a page on ``evil.example`` that resolves to the service's
address sends ``Host: evil.example`` (and ``Origin: http://evil.example``); it must get 421
on every data route, and nothing may be stored or served. A WebSocket upgrade gets a JSON
refusal, and a repeated query parameter a 400 (item 11). The rules themselves are tested in
process in tests/unit/serving/test_guard_hosts.py and test_guard_normalise.py.
"""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import pytest
import requests
from payloads import png_bytes
from service_factory import TINY_ALLOWED_HOST

EVIL = "evil.example"


@pytest.fixture(scope="module")
def service(services):
    return services.tiny()


@pytest.fixture(scope="module")
def stored(service) -> tuple[str, bytes]:
    """One image of the collection, added with the service's own address: its path and bytes."""
    image = png_bytes((17, 201, 93), (40, 30))
    name = f"hostile-headers-{time.time_ns()}.png"
    resp = requests.post(f"{service.url}/add_image", params={"name": name}, data=image, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()["path"], image


def port(service) -> int:
    return urlsplit(service.url).port  # type: ignore[return-value]


def count(service) -> int:
    return requests.post(f"{service.url}/collection_info", json={}, timeout=30).json()["count"]


def assert_json_error(resp: requests.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"error", "detail"} and body["error"] == code, body
    return body


def data_requests(
    service, stored: tuple[str, bytes], headers: dict[str, str]
) -> dict[str, requests.Response]:
    """A search, a download of a stored image and a write, each with ``headers``."""
    path, _ = stored
    text = {"Content-Type": "text/plain", **headers}
    image = {"Content-Type": "image/png", **headers}
    return {
        "search": requests.post(
            f"{service.url}/search_text", data=b"a green square", headers=text, timeout=60
        ),
        "file": requests.get(f"{service.url}/ui/file", params={"path": path}, headers=headers, timeout=60),
        "add": requests.post(
            f"{service.url}/add_image",
            params={"name": f"rebound-{time.time_ns()}.png"},
            data=png_bytes((3, 4, 250)),
            headers=image,
            timeout=60,
        ),
    }


# --------------------------------------------------------------------------- DNS rebinding
@pytest.mark.parametrize(
    "headers",
    [
        {"Host": EVIL},
        {"Host": f"{EVIL}:{{port}}"},
        {"Host": f"{EVIL}:{{port}}", "Origin": f"http://{EVIL}:{{port}}"},
    ],
    ids=["host", "host-port", "host-and-origin"],
)
def test_a_rebinding_page_gets_421_and_nothing_is_served_or_stored(service, stored, headers):
    headers = {k: v.format(port=port(service)) for k, v in headers.items()}
    before = count(service)
    answers = data_requests(service, stored, headers)
    for route, resp in answers.items():
        body = assert_json_error(resp, 421, "misdirected_request")
        assert "CLIPVEC_ALLOWED_HOSTS" in body["detail"], route
    assert stored[1] not in answers["file"].content
    assert count(service) == before


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "localhost", "[::1]:{port}"])
def test_the_service_own_names_answer_and_only_they(service, stored, host):
    """Each of the service's names answers, also with its page's Origin (its own page may write);
    the same requests under the rebinding name, port and all, do not."""
    host = host.format(port=port(service))
    origin = f"http://{host}" if host.endswith(str(port(service))) else None
    headers = {"Host": host, **({"Origin": origin} if origin else {})}
    answers = data_requests(service, stored, headers)
    for route, resp in answers.items():
        assert resp.status_code == 200, (route, resp.status_code, resp.text[:300])
    assert answers["file"].content == stored[1]
    rebound = {k: v.replace(host.rpartition(":")[0] or host, EVIL) for k, v in headers.items()}
    for resp in data_requests(service, stored, rebound).values():
        assert_json_error(resp, 421, "misdirected_request")


def test_allowed_hosts_extend_the_list(service, stored):
    """CLIPVEC_ALLOWED_HOSTS (the tiny service allows a proxy's name) lets that name in, and only it."""
    behind_proxy = {"Host": TINY_ALLOWED_HOST, "Origin": f"https://{TINY_ALLOWED_HOST}"}  # a TLS proxy's page
    for route, resp in data_requests(service, stored, behind_proxy).items():
        assert resp.status_code == 200, (route, resp.status_code, resp.text[:300])
    for resp in data_requests(service, stored, {"Host": f"other.{TINY_ALLOWED_HOST}"}).values():
        assert_json_error(resp, 421, "misdirected_request")


def test_health_answers_any_host_but_data_does_not(service):
    """Orchestrators probe with whatever Host they like (Kubernetes: the pod IP); health shows no data."""
    probe = {"Host": f"10.244.1.7:{port(service)}"}
    for path in ("/livez", "/readyz", "/metrics"):
        assert requests.get(service.url + path, headers=probe, timeout=30).status_code == 200, path
    resp = requests.post(f"{service.url}/collection_info", json={}, headers=probe, timeout=30)
    assert_json_error(resp, 421, "misdirected_request")


# --------------------------------------------------------------------------- WebSocket
def upgrade(service, path: str, host: str) -> tuple[int, str, bytes]:
    parts = urlsplit(service.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_host=True)
        for name, value in {
            "Host": host,
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        }.items():
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.getheader("content-type", ""), resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("path", "host", "status", "code"),
    [
        ("/search_text", "127.0.0.1:{port}", 400, "websocket_unsupported"),
        ("/ui/", "localhost:{port}", 400, "websocket_unsupported"),
        ("/search_text", EVIL, 421, "misdirected_request"),
    ],
)
def test_a_websocket_upgrade_gets_a_json_refusal(service, path, host, status, code):
    got, content_type, body = upgrade(service, path, host.format(port=port(service)))
    assert (got, content_type) == (status, "application/json"), (got, content_type, body[:200])
    assert json.loads(body)["error"] == code and set(json.loads(body)) == {"error", "detail"}
    assert requests.get(service.url + "/livez", timeout=30).status_code == 200


# --------------------------------------------------------------------------- repeated query parameters
@pytest.mark.parametrize(
    ("method", "target", "name"),
    [
        ("POST", "/search_text?top_k=3&top_k=5", "top_k"),
        ("POST", "/search_image?min_score=0.1&min_score=0.9", "min_score"),
        ("POST", "/add_image?name=a.png&name=b.png", "name"),
        ("GET", "/ui/thumb?path=a.png&path=b.png", "path"),
    ],
)
def test_a_repeated_query_parameter_is_400(service, method, target, name):
    before = count(service)
    text = target.startswith("/search_text")
    resp = requests.request(
        method,
        service.url + target,
        data=b"a dog" if text else png_bytes((9, 9, 9)),
        headers={"Content-Type": "text/plain" if text else "image/png"},
        timeout=60,
    )
    body = assert_json_error(resp, 400, "bad_parameter")
    assert repr(name) in body["detail"], body
    assert count(service) == before
