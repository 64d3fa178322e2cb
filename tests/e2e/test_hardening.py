"""Hostile and careless clients against a real `bentoml serve` process (issue 8).

What depends on a real server stays here: sockets that stall or trickle, 200 of them at
once, malformed HTTP, the worker's memory under concurrent 100-megapixel images, a
schemathesis run, and the page asking for an API key in a browser. Every other refusal is
tested in process (tests/unit/serving: the guard alone, and BentoML's app in
test_service_app.py). The shared tiny service serves most tests; a second one, keyed, whose
Milvus cannot be reached and whose images folder sits on a tiny tmpfs, covers failing
writes and the 429 shape.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from payloads import big_png, jpeg_bytes
from service_factory import TINY_IDLE_TIMEOUT
from service_process import ServiceProcess, free_port

IDLE_TIMEOUT = TINY_IDLE_TIMEOUT
# The case is 16 concurrent 100 MP PNGs (bench/service_abuse.py runs it); 8 already left
# the old service's worker at 2.3 GB, and take half the time here.
CONCURRENT_BIG = 8
MAX_ITEMS = 256


@pytest.fixture(scope="module")
def service(services):
    """The shared tiny service: 4 s body idle timeout (IDLE_TIMEOUT), one extra allowed origin."""
    svc = services.tiny()
    assert svc.env["CLIPVEC_BODY_IDLE_TIMEOUT"] == str(IDLE_TIMEOUT)
    return svc


def assert_error(resp: requests.Response, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"error", "detail"}, body
    assert isinstance(body["error"], str) and isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["error"] == code, body
    return body


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
    assert elapsed > IDLE_TIMEOUT - 1, elapsed  # it waited for the idle timeout, then answered


def test_trickling_body_is_cut_by_the_floor_rate(service):
    """A byte every 0.5 s never stalls for the idle timeout, but is far below the floor rate.

    Without the floor the upload would go on for days: no answer before the socket's 30 s timeout.
    """
    sock = stalled_upload(service.url, declared=1_000_000, sent=10)
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
    assert json.loads(body)["error"] == "request_timeout"


def good_image_request(url: str) -> requests.Response:
    return requests.post(
        url + "/vectorize_image", data=jpeg_bytes(), headers={"Content-Type": "image/jpeg"}, timeout=30
    )


def test_200_stalled_uploads_do_not_lock_out_a_good_request(service):
    socks = [stalled_upload(service.url) for _ in range(200)]
    try:
        time.sleep(0.5)
        resp = good_image_request(service.url)
        assert resp.status_code == 200, resp.text  # was 429 for everyone while 128 uploads stalled
        assert requests.get(service.url + "/readyz", timeout=30).status_code == 200
    finally:
        for sock in socks:
            sock.close()


# --------------------------------------------------------------------------- 3. bounded work


def test_concurrent_huge_images_share_a_pixel_budget(service):
    data = big_png()
    assert len(data) < 150_000  # 100 megapixels in ~97 KB
    peak = [service.worker_rss()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            peak.append(service.worker_rss())

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
    assert service.worker_rss() < 1.5 * 1024**3


# --------------------------------------------------------------------------- 4. safe by default


# --------------------------------------------------------------------------- 5. one error shape
def test_every_error_is_json(service):
    assert_error(requests.get(service.url + "/no-such-route"), 404)
    assert_error(requests.get(service.url + "/vectorize_text"), 405)
    assert_error(requests.get(service.url + "/ui/thumb", params={"path": "../etc/passwd"}), 404)
    assert_error(requests.get(service.url + "/ui/no-such-file"), 404)
    big = {"Content-Type": "image/jpeg", "Content-Length": str(10**9)}
    sock = raw_request(
        service.url,
        "POST /vectorize_image HTTP/1.1\r\nHost: 127.0.0.1\r\n"
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


# --------------------------------------------------------------------------- 7. OpenAPI and clients


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
    # The first upload counts from the moment its body has arrived (the guard), so its last
    # byte is the start signal. (A 40 MP upload sent 0.4 s ahead had been answered in 0.40 s
    # and the second upload then got in.) 100 MP, the most the pixel budget takes, decodes in
    # about a second here: the second upload comes while it does.
    slow = big_png()
    head = (
        "POST /vectorize_image HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
        f"Authorization: {AUTH['Authorization']}\r\nContent-Length: {len(slow)}\r\n\r\n"
    )
    first = raw_request(broken.url, head, slow[:-1])
    try:
        first.sendall(slow[-1:])
        time.sleep(0.3)  # the service reads the last byte and counts the upload
        second = requests.post(
            broken.url + "/vectorize_image", data=jpeg_bytes(), headers={"Content-Type": "image/jpeg", **AUTH}
        )
        # Image uploads are counted apart (issue 21.6): a text request still gets in.
        text = requests.post(
            broken.url + "/vectorize_text", data="a dog", headers={"Content-Type": "text/plain", **AUTH}
        )
        status, _, body = read_response(first)
    finally:
        first.close()
    assert status == 200, body[:300]
    assert_error(second, 429, "too_many_requests")
    assert text.status_code == 200, text.text


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
        # A number of cases, not a time budget: with --max-time the fuzzing repeats until the
        # time is spent, so a faster machine reached values a slower one never sent and CI found
        # what the last run here had not. 150 cases per operation and seed 1 are the same
        # 3,588 requests on every machine (~50 s here, as the 50 s budget was).
        "--max-examples",
        "150",
        "--request-timeout",
        "10",
        "--max-response-time",
        "2",
        "--seed",
        "1",
        "--no-color",
    ]
    # Run in tmp_path: schemathesis keeps its caches (.schemathesis, .hypothesis) in the working folder.
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    (test_output / "schemathesis.txt").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout[-4000:]
    assert service.alive()
