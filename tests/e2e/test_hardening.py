"""Hostile and careless requests against a real `bentoml serve` process (issue 8).

Every case is answered fast with a 4xx ``{"error", "detail"}`` and the service answers a
good request afterwards. One service process serves the module; a second one, whose
Milvus cannot be reached and whose images folder sits on a tiny tmpfs, covers failing
writes (full disk, store down) and the 429/503 shapes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests
from PIL import Image
from service_process import ServiceProcess, free_port

IDLE_TIMEOUT = 4.0
# The case is 16 concurrent 100 MP PNGs (bench/service_abuse.py runs it); 8 already left
# the old service's worker at 2.3 GB, and take half the time here.
CONCURRENT_BIG = 8
MAX_ITEMS = 256


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hardening-images")


@pytest.fixture(scope="module")
def service(tiny_model_dir, tmp_path_factory, test_output, images_dir):
    env = {
        "CLIPVEC_MODEL": str(tiny_model_dir),
        "CLIPVEC_MILVUS_URI": str(tmp_path_factory.mktemp("hardening-db") / "milvus.db"),
        "CLIPVEC_IMAGES_DIR": str(images_dir),
        "CLIPVEC_BODY_IDLE_TIMEOUT": str(IDLE_TIMEOUT),
        "CLIPVEC_ALLOWED_ORIGINS": "https://photos.example.org",
    }
    with ServiceProcess(env, test_output / "service-hardening.log") as svc:
        yield svc


def jpeg_bytes(seed: int = 0, width: int = 160, height: int = 120) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def assert_error(resp: requests.Response, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"error", "detail"}, body
    assert isinstance(body["error"], str) and isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["error"] == code, body
    return body


def assert_good_request_works(url: str) -> None:
    resp = requests.post(
        url + "/vectorize_text", data="a dog", headers={"Content-Type": "text/plain"}, timeout=10
    )
    assert resp.status_code == 200, resp.text


def post_text(
    url: str, route: str, body: bytes | str, content_type: str = "application/json"
) -> requests.Response:
    return requests.post(url + route, data=body, headers={"Content-Type": content_type}, timeout=10)


def raw_request(url: str, head: str, body: bytes = b"") -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(head.encode("latin-1") + body)
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest


# --------------------------------------------------------------------------- 1. no hangs, no 5xx
DEEP = "[" * 1000 + "]" * 1000
HUGE_INT = "1" * 5000
SURROGATE = '"\\ud800"'


@pytest.mark.parametrize("route", ["/vectorize_text", "/search_text", "/vectorize_texts", "/collection_info"])
@pytest.mark.parametrize("body", [DEEP, HUGE_INT, SURROGATE], ids=["deep", "5000-digits", "surrogate"])
def test_unparseable_json_is_400_at_once(service, route, body):
    if route == "/vectorize_texts" and body == SURROGATE:
        body = "[" + DEEP + "]"  # a surrogate inside a list is a per-item error (next test)
    started = time.monotonic()
    resp = post_text(service.url, route, body)
    elapsed = time.monotonic() - started
    assert_error(resp, 400, "invalid_json")
    assert elapsed < 2.0, elapsed  # was 300 s, then an empty 500
    assert_good_request_works(service.url)


def test_lone_surrogate_in_a_batch_is_a_per_item_error(service):
    resp = post_text(service.url, "/vectorize_texts", '["\\ud800", "a dog", ["nested"], "x\\u0000y"]')
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert results[0]["error"] == "invalid_text" and "surrogate" in results[0]["detail"]
    assert len(results[1]["vector"]) == 512
    assert results[2]["error"] == "invalid_text" and results[3]["error"] == "invalid_text"


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "text/plain"],
)
def test_collection_info_refuses_forms(service, content_type):
    body = (
        b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--\r\n"
        if "multipart" in content_type
        else b"a=1"
    )
    assert_error(post_text(service.url, "/collection_info", body, content_type), 415)
    assert (
        requests.post(service.url + "/collection_info", timeout=10).status_code == 200
    )  # empty body is fine


# --------------------------------------------------------------------------- 2. slow clients
def stalled_upload(url: str, declared: int = 100_000, sent: int = 100) -> socket.socket:
    host = url.removeprefix("http://")
    head = (
        f"POST /vectorize_image HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/jpeg\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    return raw_request(url, head, b"\xff\xd8\xff" + b"\0" * (sent - 3))


def test_stalled_body_gets_408_after_the_idle_timeout(service):
    sock = stalled_upload(service.url)
    started = time.monotonic()
    try:
        status, headers, body = read_response(sock)
    finally:
        sock.close()
    elapsed = time.monotonic() - started
    assert status == 408, body
    assert json.loads(body)["error"] == "request_timeout"
    assert IDLE_TIMEOUT - 1 < elapsed < IDLE_TIMEOUT + 5, elapsed


def test_trickling_body_is_cut_by_the_floor_rate(service):
    """A byte a second never stalls for the idle timeout, but is far below the floor rate."""
    sock = stalled_upload(service.url, declared=1_000_000, sent=10)
    started = time.monotonic()
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.5):
            try:
                sock.sendall(b"\0")
            except OSError:
                return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        status, _, body = read_response(sock)
    finally:
        stop.set()
        sock.close()
    assert status == 408, body
    assert time.monotonic() - started < IDLE_TIMEOUT + 5


def good_image_request(url: str) -> tuple[requests.Response, float]:
    started = time.monotonic()
    resp = requests.post(
        url + "/vectorize_image", data=jpeg_bytes(), headers={"Content-Type": "image/jpeg"}, timeout=10
    )
    return resp, time.monotonic() - started


def test_200_stalled_uploads_do_not_lock_out_a_good_request(service):
    _, baseline = good_image_request(service.url)  # this shared machine's own slowness, not the stalls'
    socks = [stalled_upload(service.url) for _ in range(200)]
    try:
        time.sleep(0.5)
        resp, elapsed = good_image_request(service.url)
        assert resp.status_code == 200, resp.text  # was 429 for everyone while 128 uploads stalled
        assert elapsed < 2.0 + baseline, (elapsed, baseline)
        assert requests.get(service.url + "/readyz", timeout=5).status_code == 200
    finally:
        for sock in socks:
            sock.close()


# --------------------------------------------------------------------------- 3. bounded work
def test_45_mb_text_is_cut_before_tokenizing(service):
    text = ("lorem ipsum dolor sit amet " * 1_700_000)[:45_000_000].encode()
    started = time.monotonic()
    resp = requests.post(
        service.url + "/vectorize_text", data=text, headers={"Content-Type": "text/plain"}, timeout=60
    )
    elapsed = time.monotonic() - started
    assert resp.status_code == 200, resp.text[:300]
    assert resp.json()["truncated"] is True
    assert elapsed < 5.0, elapsed  # was 47-80 s: the whole text was tokenized
    short = requests.post(
        service.url + "/vectorize_text", data=text[:2000], headers={"Content-Type": "text/plain"}, timeout=10
    )
    np.testing.assert_allclose(resp.json()["vector"], short.json()["vector"], atol=1e-5)


def test_too_many_multipart_parts_are_refused_while_streaming(service):
    """The body never ends: the 413 must come as soon as the part limit is passed."""
    host = service.url.removeprefix("http://")
    part = b"--b\r\nContent-Disposition: form-data; name=files; filename=a.jpg\r\n\r\nx\r\n"
    head = (
        f"POST /vectorize_images HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 40000000\r\n\r\n"
    )
    sock = raw_request(service.url, head, part * (MAX_ITEMS + 5))
    try:
        status, _, body = read_response(sock)
    finally:
        sock.close()
    assert status == 413, body
    assert json.loads(body)["error"] == "payload_too_large"


def service_worker_rss(svc: ServiceProcess) -> int:
    """The largest RSS among the service's processes (the model worker)."""
    root = psutil.Process(svc.proc.pid)
    sizes = []
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            sizes.append(proc.memory_info().rss)
    return max(sizes)


def big_png(pixels: int = 100_000_000) -> bytes:
    side = int(pixels**0.5)
    buf = io.BytesIO()
    Image.new("L", (side, side), 0).save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def test_concurrent_huge_images_share_a_pixel_budget(service):
    data = big_png()
    assert len(data) < 150_000  # 100 megapixels in ~97 KB
    peak = [service_worker_rss(service)]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            peak.append(service_worker_rss(service))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with ThreadPoolExecutor(CONCURRENT_BIG) as pool:
            answers = list(
                pool.map(
                    lambda _: requests.post(
                        service.url + "/vectorize_image",
                        data=data,
                        headers={"Content-Type": "image/png"},
                        timeout=300,
                    ),
                    range(CONCURRENT_BIG),
                )
            )
    finally:
        stop.set()
        sampler.join()
    assert [a.status_code for a in answers] == [200] * CONCURRENT_BIG  # queued, not refused
    assert max(peak) < 2 * 1024**3, max(peak) / 1024**2  # was 2.3 GB after 8 of them, for good
    assert service_worker_rss(service) < 1.5 * 1024**3


# --------------------------------------------------------------------------- 4. safe by default
def test_forms_and_wrong_types_are_415(service):
    image = jpeg_bytes()
    for route in ("/vectorize_image", "/search_image", "/add_image"):
        for ct in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            assert_error(requests.post(service.url + route, data=image, headers={"Content-Type": ct}), 415)
        browser = {"Content-Type": "text/plain", "Origin": service.url}
        assert_error(requests.post(service.url + route, data=image, headers=browser), 415)
    for route in ("/vectorize_text", "/search_text"):
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        assert_error(requests.post(service.url + route, data="dog", headers=form), 415)
        multi = {"Content-Type": "multipart/form-data; boundary=x"}
        assert_error(requests.post(service.url + route, data="dog", headers=multi), 415)
    assert_error(
        requests.post(service.url + "/vectorize_texts", data="[]", headers={"Content-Type": "text/plain"}),
        415,
    )


def test_cross_site_writes_are_403(service):
    image = jpeg_bytes()
    for origin in ("https://evil.example", "null", "http://127.0.0.1:1"):
        headers = {"Content-Type": "image/jpeg", "Origin": origin}
        assert_error(requests.post(service.url + "/add_image?name=x.jpg", data=image, headers=headers), 403)
        text = {"Content-Type": "text/plain", "Origin": origin}
        assert_error(requests.post(service.url + "/search_text", data="dog", headers=text), 403)
    own = {"Content-Type": "image/jpeg", "Origin": service.url}
    assert requests.post(service.url + "/vectorize_image", data=image, headers=own).status_code == 200
    allowed = {"Content-Type": "image/jpeg", "Origin": "https://photos.example.org"}
    assert requests.post(service.url + "/vectorize_image", data=image, headers=allowed).status_code == 200


def test_uploads_never_follow_planted_symlinks_and_keep_one_copy(service, images_dir, tmp_path):
    import hashlib

    outside = tmp_path / "outside.txt"
    outside.write_text("do not touch")
    data = jpeg_bytes(seed=41)
    digest = hashlib.sha256(data).hexdigest()
    uploads = images_dir / "uploads"
    uploads.mkdir(exist_ok=True)
    (uploads / f"{digest[:16]}-planted.jpg").symlink_to(outside)  # the final name
    (uploads / f".{digest[:16]}-planted.jpg.part").symlink_to(outside)  # the old, predictable temp name

    added = requests.post(service.url + "/add_image?name=planted.jpg", data=data)
    assert added.status_code == 200, added.text
    assert outside.read_text() == "do not touch"
    saved = images_dir / added.json()["path"]
    assert saved.is_file() and not saved.is_symlink()
    assert saved.read_bytes() == data

    again = requests.post(service.url + "/add_image?name=other-name.jpg", data=data)
    assert again.status_code == 200 and again.json()["created"] is False
    names = [p for p in uploads.iterdir() if p.is_file() and not p.is_symlink() and p.read_bytes() == data]
    assert len({p.stat().st_ino for p in names}) == 1, names  # one copy of the bytes...
    assert again.json()["path_count"] == 2  # ...under both names, so the record lists both
    assert not [p for p in uploads.iterdir() if p.name.endswith(".part") and not p.is_symlink()]


def test_error_bodies_hold_no_library_text(service):
    body = assert_error(
        requests.post(service.url + "/vectorize_image", data=b"\x89PNG\r\n\x1a\n" + b"\0" * 64), 400
    )
    assert "Error" not in body["detail"] and "Traceback" not in body["detail"]
    body = assert_error(post_text(service.url, "/search_text?top_k=abc", "dog", "text/plain"), 400)
    assert "invalid literal" not in body["detail"]


# --------------------------------------------------------------------------- 5. one error shape
def test_every_error_is_json(service):
    assert_error(requests.get(service.url + "/no-such-route"), 404)
    assert_error(requests.get(service.url + "/vectorize_text"), 405)
    assert_error(requests.get(service.url + "/ui/thumb", params={"path": "../etc/passwd"}), 404)
    assert_error(requests.get(service.url + "/ui/no-such-file"), 404)
    big = {"Content-Type": "image/jpeg", "Content-Length": str(10**9)}
    sock = raw_request(
        service.url,
        "POST /vectorize_image HTTP/1.1\r\nHost: x\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in big.items())
        + "\r\n",
    )
    try:
        status, headers, body = read_response(sock)
    finally:
        sock.close()
    assert status == 413 and set(json.loads(body)) == {"error", "detail"}
    sock = raw_request(service.url, "GARBAGE / NOT-HTTP\r\n\r\n")
    try:
        status, headers, body = read_response(sock)
    finally:
        sock.close()
    assert status == 400 and headers["content-type"] == "application/json", (status, headers)
    assert set(json.loads(body)) == {"error", "detail"}


@pytest.mark.parametrize(
    "query", ["min_score=nan", "min_score=inf", "min_score=-Infinity", "min_score=1e999"]
)
def test_min_score_must_be_finite(service, query):
    assert_error(post_text(service.url, f"/search_text?{query}", "dog", "text/plain"), 400, "bad_parameter")


@pytest.mark.parametrize("top_k", ["\uff15", "\u0665", " 5", "+5", "5_0", "5.0", "0x5"])
def test_top_k_takes_plain_ascii_digits_only(service, top_k):
    resp = requests.post(
        service.url + "/search_text",
        params={"top_k": top_k},
        data="dog",
        headers={"Content-Type": "text/plain"},
    )
    assert_error(resp, 400, "bad_parameter")


# --------------------------------------------------------------------------- 7. OpenAPI and clients
def test_openapi_document_declares_the_real_api(service):
    doc = requests.get(service.url + "/docs.json").json()
    assert doc["info"]["title"] == "clipvec" and doc["info"]["version"] not in ("", "None")
    paths = doc["paths"]
    for route in ("/vectorize_image", "/search_image", "/add_image"):
        content = paths[route]["post"]["requestBody"]["content"]
        assert set(content) == {"image/*", "application/octet-stream"}, content
    assert set(paths["/vectorize_images"]["post"]["requestBody"]["content"]) == {"multipart/form-data"}
    names = {p["name"] for p in paths["/search_text"]["post"]["parameters"]}
    assert names == {"top_k", "min_score", "path_prefix"}
    assert {p["name"] for p in paths["/add_image"]["post"]["parameters"]} == {"name"}
    for code in ("400", "413", "415", "503"):
        assert code in paths["/search_image"]["post"]["responses"], code


def test_bentoml_client_calls_every_endpoint(service, tmp_path):
    import bentoml

    image = jpeg_bytes(seed=5)
    path = tmp_path / "photo.jpg"
    path.write_bytes(image)
    with bentoml.SyncHTTPClient(service.url) as client:
        by_bytes = client.vectorize_image(image)  # sent as text/plain without Origin: accepted
        assert len(by_bytes["vector"]) == 512
        assert client.vectorize_text("a dog")["dim"] == 512
        assert len(client.vectorize_texts(["a dog", "a cat"])["results"]) == 2
        assert client.search_image(image)["hits"] is not None
        assert client.search_text("a dog")["hits"] is not None
        added = client.add_image(image)
        assert added["content_hash"]
        assert client.collection_info()["count"] >= 1
        # A path: the batch route takes files (BentoML's client sends them as multipart).
        batch = client.vectorize_images([path, path])
        assert [r["name"] for r in batch["results"]] == ["photo.jpg", "photo.jpg"]
        np.testing.assert_allclose(batch["results"][0]["vector"], by_bytes["vector"], atol=1e-5)


# --------------------------------------------------------------------------- a second service: key, failing writes
API_KEY = "s3cret-key-for-tests"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def broken(tiny_model_dir, tmp_path_factory, test_output):
    """An API key, Milvus unreachable, the images folder on a 2 MB tmpfs, one request at a time."""
    mount = tmp_path_factory.mktemp("tiny-disk")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode()[:200]}")
    env = {
        "CLIPVEC_MODEL": str(tiny_model_dir),
        "CLIPVEC_MILVUS_URI": f"http://127.0.0.1:{free_port()}",
        "CLIPVEC_IMAGES_DIR": str(mount),
        "CLIPVEC_MAX_CONCURRENCY": "1",
        "CLIPVEC_API_KEY": API_KEY,
    }
    try:
        svc = ServiceProcess(env, test_output / "service-hardening-broken.log")
        svc.start(ready_path="/livez")  # /readyz is 503 while Milvus cannot be reached
        try:
            svc.images = mount  # type: ignore[attr-defined]
            yield svc
        finally:
            svc.stop()
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_api_key_guards_every_data_route(broken):
    for route in ("/vectorize_text", "/vectorize_image", "/vectorize_texts", "/search_text", "/add_image"):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}):
            assert_error(requests.post(broken.url + route, data=b"x", headers=headers), 401, "unauthorized")
    assert_error(requests.post(broken.url + "/collection_info"), 401)
    assert_error(requests.get(broken.url + "/ui/thumb", params={"path": "a.png"}), 401)
    assert_error(requests.get(broken.url + "/schema.json"), 401)
    for route in ("/livez", "/readyz", "/metrics"):
        assert requests.get(broken.url + route).status_code in (200, 503), route
    assert requests.get(broken.url + "/ui/").status_code == 200  # the page itself, to ask for the key
    ok = requests.post(
        broken.url + "/vectorize_text", data="a dog", headers={"Content-Type": "text/plain", **AUTH}
    )
    assert ok.status_code == 200, ok.text
    # The page's <img> loads carry the key as a same-site cookie (image routes only, GET only).
    cookie = {"Cookie": f"clipvec_key={API_KEY}"}
    assert requests.get(broken.url + "/ui/thumb", params={"path": "a.png"}, headers=cookie).status_code == 503
    assert_error(requests.post(broken.url + "/vectorize_text", data="a dog", headers=cookie), 401)


@pytest.mark.browser
def test_page_asks_for_the_key_once_and_keeps_it(broken):
    from test_ui import CHROMIUM_ARGS, chromium_path

    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(20_000)
            asked: list[str] = []

            def answer(dialog) -> None:
                asked.append(dialog.message)
                dialog.accept(API_KEY)

            page.on("dialog", answer)
            logs: list[str] = []
            page.on("console", lambda msg: logs.append(msg.text))
            page.on("pageerror", lambda exc: logs.append(str(exc)))
            for _ in range(2):  # a second visit finds the key in localStorage
                page.goto(broken.url + "/ui/")
                try:
                    page.wait_for_function("() => !document.getElementById('error').hidden")
                except PlaywrightTimeout:
                    raise AssertionError((asked, page.inner_text("body")[:500], logs)) from None
                message = page.inner_text("#error")
                assert "Milvus" in message, message  # the key was accepted: the store is what is missing
            assert len(asked) == 1 and "API key" in asked[0], asked
            assert page.evaluate("() => localStorage.getItem('clipvec.apiKey')") == API_KEY
            assert "clipvec_key=" in page.evaluate("() => document.cookie")
        finally:
            browser.close()


def test_store_failure_leaves_no_file_and_no_address(broken):
    resp = requests.post(
        broken.url + "/add_image?name=a.jpg", data=jpeg_bytes(seed=9), headers=AUTH, timeout=60
    )
    body = assert_error(resp, 503, "store_unavailable")
    assert "127.0.0.1" not in body["detail"] and "http" not in body["detail"]
    assert [p.name for p in (broken.images / "uploads").iterdir()] == []
    body = assert_error(requests.post(broken.url + "/collection_info", headers=AUTH, timeout=60), 503)
    assert "127.0.0.1" not in body["detail"]
    assert requests.get(broken.url + "/livez").status_code == 200


def test_full_disk_is_507_without_a_part_file(broken):
    filler = broken.images / "filler"
    filler.write_bytes(
        b"\0" * (os.statvfs(broken.images).f_bavail * os.statvfs(broken.images).f_frsize - 20_000)
    )
    try:
        big = jpeg_bytes(seed=3, width=600, height=400)
        assert len(big) > 30_000
        resp = requests.post(broken.url + "/add_image?name=big.jpg", data=big, headers=AUTH, timeout=60)
        assert_error(resp, 507, "storage_full")
        assert [p.name for p in (broken.images / "uploads").iterdir()] == []
    finally:
        filler.unlink()


def test_busy_service_answers_429_json(broken):
    slow = big_png(40_000_000)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(
            requests.post,
            broken.url + "/vectorize_image",
            data=slow,
            headers={"Content-Type": "image/png", **AUTH},
            timeout=120,
        )
        time.sleep(0.4)
        second = requests.post(
            broken.url + "/vectorize_text", data="a dog", headers={"Content-Type": "text/plain", **AUTH}
        )
        assert first.result().status_code == 200
    assert_error(second, 429, "too_many_requests")


def test_unknown_query_parameters_and_bad_prefixes_are_400(service):
    for query in ("topk=5", "top_k=5&x=1", "path_prefix=a%7Fb", "path_prefix=a%0Ab", "min_score=", "top_k="):
        resp = post_text(service.url, f"/search_text?{query}", "dog", "text/plain")
        assert_error(resp, 400, "bad_parameter")
    tilde = post_text(service.url, "/search_text?path_prefix=a~", "dog", "text/plain")  # was a 500
    assert tilde.status_code == 200, tilde.text
    files = [("files", ("a.jpg", jpeg_bytes(), "image/jpeg"))]
    resp = requests.post(service.url + "/vectorize_images", files=files, data={"note": "not a file"})
    assert_error(resp, 400, "invalid_multipart")


def test_schemathesis_finds_nothing(service, test_output, tmp_path):
    """Every operation of /docs.json, fuzzed: no 5xx, no undocumented answer, nothing slow."""
    requests.post(service.url + "/collection_info", timeout=60)  # open the store before the clock runs
    st = Path(sys.executable).with_name("st")
    config = Path(__file__).with_name("schemathesis.toml")
    cmd = [
        str(st),
        "--config-file",
        str(config),
        "run",
        service.url + "/docs.json",
        "--checks",
        "all",
        "--max-examples",
        "10",
        "--max-time",
        "50",
        "--request-timeout",
        "10",
        "--max-response-time",
        "2",
        "--seed",
        "1",
        "--no-color",
    ]
    # Run in tmp_path: schemathesis keeps its caches (.schemathesis, .hypothesis) in the working folder.
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    (test_output / "schemathesis.txt").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout[-4000:]
    assert service.alive()
