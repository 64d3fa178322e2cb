"""The page's image routes (/ui/thumb, /ui/file) through uvicorn's own request parsing.

Every check of which paths the page serves runs in process (tests/unit/serving/test_page_app.py,
test_page_files.py, test_service_app.py); only here do raw request targets go through a real
server's HTTP parser, byte for byte: each is a plain 404 that never leaks a file.
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import quote, urlencode, urlsplit

import pytest
import requests
from hostile_names import hostile_service
from payloads import NOT_FOUND, RAW_TARGETS, REPEATED_TARGETS, png_bytes

ROUTES = ("/ui/thumb", "/ui/file")


@pytest.fixture(scope="module")
def setup(services):
    svc = services.tiny()
    resp = requests.post(
        f"{svc.url}/add_image", params={"name": "legit.png"}, data=png_bytes((200, 30, 30)), timeout=60
    )
    assert resp.status_code == 200, resp.text
    svc.legit = resp.json()["path"]  # type: ignore[attr-defined]
    return svc


def raw_get(url: str, target: str) -> tuple[int, bytes, dict[str, str]]:
    """GET with the request target sent byte for byte (no client-side normalisation)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def test_raw_request_targets_are_404(setup):
    legit = quote(setup.legit, safe="/")
    for route in ROUTES:
        for pattern in RAW_TARGETS:
            target = pattern.format(route=route, legit=legit)
            status, body, headers = raw_get(setup.url, target)
            assert status == 404, (target, status, body[:200])
            assert b"root:" not in body and b"top secret" not in body, target
            if target.startswith(route):  # ours; elsewhere BentoML answers its own 404 for unknown routes
                assert body == NOT_FOUND or json.loads(body)["error"] == "not_found", (target, body[:200])
                assert not headers.get("content-type", "").startswith("image/"), target
        for pattern in REPEATED_TARGETS:
            status, body, _ = raw_get(setup.url, pattern.format(route=route, legit=legit))
            assert status == 400 and json.loads(body)["error"] == "bad_parameter", (
                pattern,
                status,
                body[:200],
            )


def test_the_legitimate_file_is_served(setup):
    """The control: the same server serves the indexed file (so the 404s above mean refusals)."""
    status, body, headers = raw_get(setup.url, f"/ui/file?path={quote(setup.legit, safe='/')}")
    assert status == 200 and headers["content-type"] == "image/png" and body.startswith(b"\x89PNG")


def test_every_stored_name_found_by_search_is_served(services):
    """Hostile file names (tests/harness/hostile_names.py), imported by the CLI, found by a search,
    then asked for with the URL the page builds (form-encoded path, v= the hash): each is its file."""
    svc = hostile_service(services)
    resp = requests.post(f"{svc.url}/search_text", params={"top_k": 100}, data="anything", timeout=60)
    assert resp.status_code == 200, resp.text
    hits = {hit["path"]: hit for hit in resp.json()["hits"]}
    assert set(svc.files) <= set(hits), sorted(set(svc.files) - set(hits))
    for path, data in svc.files.items():
        query = urlencode({"path": path, "v": hits[path]["content_hash"][:16]})
        status, body, headers = raw_get(svc.url, f"/ui/file?{query}")
        assert (status, body) == (200, data), (path, status, body[:100])
        status, body, headers = raw_get(svc.url, f"/ui/thumb?{query}&size=128")
        assert status == 200 and headers["content-type"] == "image/jpeg", (path, status, body[:100])
