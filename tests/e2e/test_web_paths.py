"""The page's image routes (/ui/thumb, /ui/file) serve indexed files and nothing else.

Against a real ``bentoml serve`` process: every attempt to leave the images folder or to
read a file that is not in the collection is a plain 404 with the same body, whichever
check refused it; one legitimate path is served as a JPEG thumbnail and as the file.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import shutil
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import requests
from image_corpus import hdr_encode, hdr_reference
from PIL import Image
from service_process import ServiceProcess

ROUTES = ("/ui/thumb", "/ui/file")


def png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


class Setup:
    def __init__(self, svc: ServiceProcess, images: Path, outside: Path) -> None:
        self.svc = svc
        self.url = svc.url
        self.images = images
        self.outside = outside
        self.legit = ""
        self.hdr = ""
        self.tiff = ""
        self.symlinked_out = ""

    def add(self, data: bytes, name: str) -> str:
        resp = requests.post(
            f"{self.url}/add_image", params={"name": name}, data=data, headers={"Content-Type": "image/png"}
        )
        assert resp.status_code == 200, resp.text
        return resp.json()["path"]


@pytest.fixture(scope="module")
def setup(tiny_model_dir, tmp_path_factory, test_output):
    base = tmp_path_factory.mktemp("webpaths")
    images, outside = base / "images", base / "outside"
    images.mkdir()
    outside.mkdir()
    env = {
        "CLIPVEC_MODEL": str(tiny_model_dir),
        "CLIPVEC_IMAGES_DIR": str(images),
        "CLIPVEC_MILVUS_URI": str(base / "milvus.db"),
        "CLIPVEC_THUMB_DIR": "",  # the default: a hidden .thumbs folder inside the images folder
    }
    with ServiceProcess(env, test_output / "web-paths-service.log") as svc:
        s = Setup(svc, images, outside)
        s.legit = s.add(png_bytes((200, 30, 30)), "legit.png")
        s.tiff = s.add(_tiff_bytes(), "scan.tif")
        s.hdr = s.add(hdr_encode(hdr_reference()), "sky.hdr")

        # An indexed path whose file is then replaced by a symlink to a file outside the folder.
        s.symlinked_out = s.add(png_bytes((30, 30, 200)), "victim.png")
        victim = images / s.symlinked_out
        shutil.move(victim, outside / "victim.png")
        os.symlink(outside / "victim.png", victim)

        # Files that exist but were never indexed: inside, outside, and a folder symlinked out.
        (images / "not-indexed.png").write_bytes(png_bytes((0, 200, 0)))
        (images / "uploads" / "not-indexed.png").write_bytes(png_bytes((0, 200, 0)))
        (outside / "secret.png").write_bytes(png_bytes((1, 2, 3)))
        (outside / "secret.txt").write_text("top secret\n")
        os.symlink(outside, images / "linked-out")
        os.symlink(outside / "secret.png", images / "secret-link.png")
        yield s


def _tiff_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), (20, 160, 90)).save(buf, "TIFF")
    return buf.getvalue()


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


NOT_FOUND = b'{"error":"not_found","detail":"no such image in the collection"}'


def assert_refused(status: int, body: bytes, headers: dict[str, str], what: str) -> None:
    assert status == 404, (what, status, body[:200])
    assert body == NOT_FOUND, (what, body[:200])
    assert not headers.get("content-type", "").startswith("image/"), what


# --------------------------------------------------------------------------- legitimate use
def test_legit_thumbnail_is_a_cached_jpeg(setup):
    resp = requests.get(f"{setup.url}/ui/thumb", params={"path": setup.legit, "size": 128})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "image/jpeg"
    assert resp.headers["x-content-type-options"] == "nosniff"
    image = Image.open(io.BytesIO(resp.content))
    assert image.format == "JPEG" and max(image.size) <= 128
    r, g, b = image.convert("RGB").getpixel((image.width // 2, image.height // 2))
    assert r > 150 and g < 90 and b < 90
    etag = resp.headers["etag"]
    assert resp.headers["cache-control"] == "private, no-cache"
    again = requests.get(
        f"{setup.url}/ui/thumb", params={"path": setup.legit, "size": 128}, headers={"If-None-Match": etag}
    )
    assert again.status_code == 304 and again.content == b""
    # cached on disk, in the hidden folder inside the images folder (never imported)
    assert list((setup.images / ".thumbs").rglob("*-t128.jpg"))
    # a content-addressed URL (what the page uses) may be cached for good
    content_hash = etag.strip('"').split("-")[0]
    pinned = requests.get(
        f"{setup.url}/ui/thumb", params={"path": setup.legit, "size": 128, "v": content_hash[:16]}
    )
    assert pinned.status_code == 200 and "immutable" in pinned.headers["cache-control"]


def test_legit_file_is_served_as_is(setup):
    resp = requests.get(f"{setup.url}/ui/file", params={"path": setup.legit})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/png"
    assert resp.content == (setup.images / setup.legit).read_bytes()


@pytest.mark.parametrize("which", ["tiff", "hdr"])
def test_formats_browsers_cannot_show_come_as_jpeg(setup, which):
    path = getattr(setup, which)
    for route in ROUTES:
        resp = requests.get(f"{setup.url}{route}", params={"path": path})
        assert resp.status_code == 200, (route, resp.text)
        assert resp.headers["content-type"] == "image/jpeg", route
        assert Image.open(io.BytesIO(resp.content)).format == "JPEG"


# --------------------------------------------------------------------------- attempts
def traversal_values(setup: Setup) -> list[str]:
    """Decoded ``path`` values (what the server sees after one round of URL decoding)."""
    legit = setup.legit
    name = legit.rsplit("/", 1)[-1]
    return [
        "",
        ".",
        "..",
        "../",
        "../outside/secret.png",
        "../outside/secret.txt",
        "../../../../../../etc/passwd",
        "uploads/../../outside/secret.png",
        f"uploads/../{legit}",  # resolves inside, but is not the indexed spelling
        f"./{legit}",
        f"uploads//{name}",
        f"{legit}/",
        f"{legit}/.",
        "/etc/passwd",
        "//etc/passwd",
        str(setup.images / legit),  # absolute path of an indexed file
        str(setup.outside / "secret.png"),
        "file:///etc/passwd",
        "%2e%2e/%2e%2e/etc/passwd",  # arrives still encoded: double encoding
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "%252e%252e%252fetc%252fpasswd",  # triple encoding
        "..%2f..%2fetc%2fpasswd",
        "uploads%2f..%2f..%2foutside%2fsecret.png",
        "..\\..\\etc\\passwd",
        "uploads\\..\\..\\outside\\secret.png",
        legit.replace("/", "\\"),
        "..%5c..%5cetc%5cpasswd",
        f"{legit}\x00.png",
        f"{legit}\x00",
        "\x00",
        "not-indexed.png",  # a real image inside the folder, not in the collection
        "uploads/not-indexed.png",
        "linked-out/secret.png",  # a folder symlinked out of the images folder
        "secret-link.png",  # a file symlinked out
        setup.symlinked_out,  # indexed, but its file is now a symlink to outside
        ".thumbs",
        legit + "x",
        legit.upper(),
        "\u2025/etc/passwd",  # one-dot leader, looks like ..
        "\uff0e\uff0e/etc/passwd",  # fullwidth dots
        "a" * 5000,
    ]


def test_traversal_attempts_are_404(setup):
    cached = sorted(str(p.relative_to(setup.images)) for p in (setup.images / ".thumbs").rglob("*.jpg"))
    values = traversal_values(setup) + cached
    assert cached, "the legit thumbnail test should have filled the cache"
    for route in ROUTES:
        for value in values:
            resp = requests.get(f"{setup.url}{route}", params={"path": value})
            assert_refused(resp.status_code, resp.content, dict(resp.headers), f"{route} path={value!r}")
            # and with the value percent-encoded once more by hand
            target = f"{route}?path={quote(quote(value, safe=''), safe='')}"
            status, body, headers = raw_get(setup.url, target)
            assert_refused(status, body, headers, target)


RAW_TARGETS = [
    # query strings as sent on the wire, encoded by hand
    "{route}?path=%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "{route}?path=..%2F..%2F..%2Fetc%2Fpasswd",
    "{route}?path=%2E%2E/%2E%2E/etc/passwd",
    "{route}?path=%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "{route}?path=%25252e%25252e%25252fetc%25252fpasswd",
    "{route}?path=%c0%ae%c0%ae%2f%c0%ae%c0%ae%2fetc%2fpasswd",  # overlong UTF-8 dots
    "{route}?path=..%5c..%5c..%5cetc%5cpasswd",
    "{route}?path=%2fetc%2fpasswd",
    "{route}?path=/etc/passwd",
    "{route}?path={legit}%00.png",
    "{route}?path={legit}&path=../../etc/passwd",  # repeated parameter
    "{route}?path=../../etc/passwd&path={legit}",
    "{route}?path={legit}%2f..%2f..%2f..%2fetc%2fpasswd",
    "{route}",  # no path at all
    "{route}?path",
    # the traversal in the URL path instead of the query
    "{route}/../../../etc/passwd",
    "{route}/..%2f..%2f..%2fetc%2fpasswd",
    "/ui/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/ui/..%2f..%2f..%2fetc%2fpasswd",
    "/ui/..%5c..%5c..%5cetc%5cpasswd",
    "/ui/%252e%252e/%252e%252e/etc/passwd",
    "/ui/app.js/../../../etc/passwd",
    "/ui/{legit}",
    "/ui//etc/passwd",
    "/ui/uploads/",
]


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


def test_refusals_all_look_the_same(setup):
    """Not indexed, outside, symlinked out, malformed: one identical answer (no oracle)."""
    answers = set()
    for value in ("not-indexed.png", "../outside/secret.png", setup.symlinked_out, "..\\x", "%2e%2e/x"):
        resp = requests.get(f"{setup.url}/ui/thumb", params={"path": value})
        answers.add((resp.status_code, resp.content, resp.headers["content-type"]))
    assert answers == {(404, NOT_FOUND, "application/json")}


def test_page_and_assets(setup):
    for path, media in (
        ("/ui/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/style.css", "text/css"),
    ):
        resp = requests.get(setup.url + path)
        assert resp.status_code == 200, path
        assert resp.headers["content-type"].startswith(media), path
    page = requests.get(setup.url + "/ui", allow_redirects=True)
    assert page.status_code == 200 and page.url.endswith("/ui/")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert "http://" not in html and "https://" not in html  # nothing from a CDN


# --------------------------------------------------------------------------- the checks alone
