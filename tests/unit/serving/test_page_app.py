"""The search page's Starlette app (clipvec.serving.web.app), driven in-process with TestClient.

In-process twins of tests/e2e/test_web_paths.py (the page app alone; the traversal attempts
in the URL path itself go through BentoML's mount in test_service_app.py): static files,
thumbnails, the file route, every refused path the same 404, and the 503s.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from asgi_driver import run
from image_corpus import hdr_encode, hdr_reference
from payloads import NOT_FOUND
from PIL import Image
from serving_fixtures import png_bytes
from starlette.testclient import TestClient

from clipvec.serving.web import attach, make_web_app
from clipvec.serving.web.app import PAGE_CSP, SECURITY_HEADERS

ROUTES = ("/thumb", "/file")
UNAVAILABLE = b'{"error":"store_unavailable","detail":"the image store is unavailable"}'


def tiff_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), (20, 160, 90)).save(buf, "TIFF")
    return buf.getvalue()


@dataclass
class Page:
    client: TestClient
    app: object
    images: Path
    outside: Path
    legit: str
    tiff: str
    hdr: str
    symlinked_out: str


@pytest.fixture(scope="module")
def page(serving_core, tmp_path_factory):
    """The page app attached to a core whose collection holds a few images, and files around them."""
    images = Path(serving_core.settings.images_dir)
    outside = tmp_path_factory.mktemp("outside")
    app = make_web_app()
    attach(app, serving_core)
    add = serving_core.add_image
    legit = add(png_bytes((200, 30, 30)), "legit.png")["path"]
    tiff = add(tiff_bytes(), "scan.tif")["path"]
    hdr = add(hdr_encode(hdr_reference()), "sky.hdr")["path"]

    # An indexed path whose file is then replaced by a symlink to a file outside the folder.
    symlinked_out = add(png_bytes((30, 30, 200)), "victim.png")["path"]
    shutil.move(images / symlinked_out, outside / "victim.png")
    os.symlink(outside / "victim.png", images / symlinked_out)

    # Files that exist but were never indexed: inside, outside, and a folder symlinked out.
    (images / "not-indexed.png").write_bytes(png_bytes((0, 200, 0)))
    (images / "uploads" / "not-indexed.png").write_bytes(png_bytes((0, 200, 0)))
    (outside / "secret.png").write_bytes(png_bytes((1, 2, 3)))
    (outside / "secret.txt").write_text("top secret\n")
    os.symlink(outside, images / "linked-out")
    os.symlink(outside / "secret.png", images / "secret-link.png")
    with TestClient(app) as client:
        yield Page(client, app, images, outside, legit, tiff, hdr, symlinked_out)


def assert_refused(resp, what: str) -> None:
    assert resp.status_code == 404, (what, resp.status_code, resp.content[:200])
    assert resp.content == NOT_FOUND, (what, resp.content[:200])
    assert resp.headers["content-type"] == "application/json", what
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers[name] == value, what


# --------------------------------------------------------------------------- the page itself
@pytest.mark.parametrize(
    ("path", "media", "name"),
    [
        ("/", "text/html; charset=utf-8", "index.html"),
        ("/index.html", "text/html; charset=utf-8", "index.html"),
        ("/app.js", "text/javascript; charset=utf-8", "app.js"),
        ("/style.css", "text/css; charset=utf-8", "style.css"),
    ],
)
def test_static_files_with_etag_and_304(page, path, media, name):
    from clipvec.serving.web.app import UI_DIR

    resp = page.client.get(path)
    assert resp.status_code == 200, path
    assert resp.headers["content-type"] == media
    assert resp.content == (UI_DIR / name).read_bytes()
    assert resp.headers["cache-control"] == "no-cache"
    assert (
        resp.headers["x-content-type-options"] == "nosniff"
        and resp.headers["referrer-policy"] == "no-referrer"
    )
    etag = resp.headers["etag"]
    assert etag.startswith('"') and len(etag) == 22
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = page.client.get(path, headers={"If-None-Match": header})
        assert again.status_code == 304 and again.content == b"", header
        assert again.headers["etag"] == etag
    assert page.client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_the_page_loads_nothing_from_elsewhere(page):
    resp = page.client.get("/")
    assert resp.headers["content-security-policy"] == PAGE_CSP
    assert "default-src 'self'" in PAGE_CSP and "frame-ancestors 'none'" in PAGE_CSP
    assert "http://" not in resp.text and "https://" not in resp.text  # nothing from a CDN
    assert "content-security-policy" not in page.client.get("/app.js").headers  # the page's own only


def test_the_page_never_reads_server_text_as_html():
    """File names, camera and lens names are hostile: the script sets them as text only, and
    the page has no inline script or handler for the CSP to block (issue 17.7)."""
    from clipvec.serving.web.app import UI_DIR

    script = (UI_DIR / "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink
    html = (UI_DIR / "index.html").read_text(encoding="utf-8")
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None  # every script is a file
    assert re.search(r"\son[a-z]+\s*=", html) is None  # no onclick= and the like


def test_nothing_else_is_served_from_the_ui_folder(page):
    for path in ("/ui.html", "/app.js.map", "/../service.py", "/style.css/x", "/thumb/x"):
        assert page.client.get(path).status_code == 404, path
    assert page.client.post("/app.js").status_code == 405


# --------------------------------------------------------------------------- legitimate use
def test_legit_thumbnail_is_a_cached_jpeg(page):
    resp = page.client.get("/thumb", params={"path": page.legit, "size": 128})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "image/jpeg"
    assert resp.headers["x-content-type-options"] == "nosniff"
    image = Image.open(io.BytesIO(resp.content))
    assert image.format == "JPEG" and max(image.size) <= 128
    r, g, b = image.convert("RGB").getpixel((image.width // 2, image.height // 2))
    assert r > 150 and g < 90 and b < 90
    etag = resp.headers["etag"]
    assert resp.headers["cache-control"] == "private, no-cache"
    again = page.client.get(
        "/thumb", params={"path": page.legit, "size": 128}, headers={"If-None-Match": etag}
    )
    assert again.status_code == 304 and again.content == b""
    # cached on disk, in the hidden folder inside the images folder (never imported)
    cached = list((page.images / ".thumbs").rglob("*-t128.jpg"))
    assert cached and cached[0].read_bytes() == resp.content
    # a content-addressed URL (what the page uses) may be cached for good
    content_hash = etag.strip('"').split("-")[0]
    pinned = page.client.get("/thumb", params={"path": page.legit, "size": 128, "v": content_hash[:16]})
    assert pinned.status_code == 200 and "immutable" in pinned.headers["cache-control"]
    for version in (content_hash[:7], "0" * 16):  # too short, or another image's: revalidated
        other = page.client.get("/thumb", params={"path": page.legit, "size": 128, "v": version})
        assert other.headers["cache-control"] == "private, no-cache", version


@pytest.mark.parametrize(
    ("size", "longest"), [("64", 128), ("128", 128), ("200", 256), ("9999", 512), ("x", 256)]
)
def test_thumbnail_sizes(page, size, longest):
    big = page.client.get("/file", params={"path": page.legit})  # 64 x 48: never scaled up
    resp = page.client.get("/thumb", params={"path": page.legit, "size": size})
    assert resp.status_code == 200
    assert resp.headers["etag"].endswith(f'-t{longest}"')
    assert Image.open(io.BytesIO(resp.content)).size == Image.open(io.BytesIO(big.content)).size


def test_legit_file_is_served_as_is(page):
    resp = page.client.get("/file", params={"path": page.legit})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/png"
    assert resp.content == (page.images / page.legit).read_bytes()
    etag = resp.headers["etag"]
    again = page.client.get("/file", params={"path": page.legit}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag


@pytest.mark.parametrize("which", ["tiff", "hdr"])
def test_formats_browsers_cannot_show_come_as_jpeg(page, which):
    path = getattr(page, which)
    for route in ROUTES:
        resp = page.client.get(route, params={"path": path})
        assert resp.status_code == 200, (route, resp.text)
        assert resp.headers["content-type"] == "image/jpeg", route
        assert Image.open(io.BytesIO(resp.content)).format == "JPEG"
    view = page.client.get("/file", params={"path": path})
    assert view.headers["etag"].endswith('-v2048"')
    again = page.client.get("/file", params={"path": path}, headers={"If-None-Match": view.headers["etag"]})
    assert again.status_code == 304


# --------------------------------------------------------------------------- attempts
def traversal_values(page: Page) -> list[str]:
    """Decoded ``path`` values (what the app sees after one round of URL decoding)."""
    legit = page.legit
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
        str(page.images / legit),  # absolute path of an indexed file
        str(page.outside / "secret.png"),
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
        page.symlinked_out,  # indexed, but its file is now a symlink to outside
        ".thumbs",
        legit + "x",
        legit.upper(),
        "\u2025/etc/passwd",  # one-dot leader, looks like ..
        "\uff0e\uff0e/etc/passwd",  # fullwidth dots
        "a" * 5000,
        # s3:// paths must equal a stored path exactly; none is in this collection
        "s3://photos/a.jpg",
        "s3://photos/../etc/passwd",
        f"s3://images/{legit}",
    ]


def test_traversal_attempts_are_404(page):
    page.client.get("/thumb", params={"path": page.legit})  # at least one thumbnail in the cache
    cached = sorted(str(p.relative_to(page.images)) for p in (page.images / ".thumbs").rglob("*.jpg"))
    assert cached
    for route in ROUTES:
        for value in traversal_values(page) + cached:
            assert_refused(page.client.get(route, params={"path": value}), f"{route} path={value!r}")
            # and with the value percent-encoded once more by hand
            once_more = quote(value, safe="")
            assert_refused(page.client.get(route, params={"path": once_more}), f"{route} path={once_more!r}")


RAW_QUERIES = [
    # query strings as sent on the wire, encoded by hand (the app gets them byte for byte)
    "path=%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "path=..%2F..%2F..%2Fetc%2Fpasswd",
    "path=%2E%2E/%2E%2E/etc/passwd",
    "path=%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "path=%25252e%25252e%25252fetc%25252fpasswd",
    "path=%c0%ae%c0%ae%2f%c0%ae%c0%ae%2fetc%2fpasswd",  # overlong UTF-8 dots
    "path=..%5c..%5c..%5cetc%5cpasswd",
    "path=%2fetc%2fpasswd",
    "path=/etc/passwd",
    "path={legit}%00.png",
    "path={legit}&path=../../etc/passwd",  # repeated parameter
    "path=../../etc/passwd&path={legit}",
    "path={legit}&path={legit}",
    "path={legit}%2f..%2f..%2f..%2fetc%2fpasswd",
    "",  # no path at all
    "path",
    "path=",
]


def test_raw_query_strings_are_404(page):
    legit = quote(page.legit, safe="/")
    for route in ROUTES:
        for pattern in RAW_QUERIES:
            query = pattern.format(legit=legit)
            answer = run(page.app, "GET", route, query=query.encode())
            assert (answer.status, answer.body) == (404, NOT_FOUND), (route, query, answer.body[:200])
            assert not (answer.header("content-type") or "").startswith("image/")


def test_refusals_all_look_the_same(page):
    """Not indexed, outside, symlinked out, malformed: one identical answer (no oracle)."""
    answers = set()
    for value in ("not-indexed.png", "../outside/secret.png", page.symlinked_out, "..\\x", "%2e%2e/x"):
        resp = page.client.get("/thumb", params={"path": value})
        answers.add((resp.status_code, resp.content, resp.headers["content-type"]))
    assert answers == {(404, NOT_FOUND, "application/json")}


def test_a_file_swapped_for_a_symlink_out_is_404_even_with_a_cached_thumbnail(page, serving_core):
    path = serving_core.add_image(png_bytes((90, 90, 10)), "swapped.png")["path"]
    first = page.client.get("/thumb", params={"path": path})
    assert first.status_code == 200
    key = first.headers["etag"].strip('"')
    assert (page.images / ".thumbs" / key[:2] / f"{key}.jpg").exists()  # cached
    shutil.move(page.images / path, page.outside / "swapped.png")
    os.symlink(page.outside / "swapped.png", page.images / path)
    for route in ROUTES:
        assert_refused(page.client.get(route, params={"path": path}), route)
        # not even a 304 for a client that kept the thumbnail's ETag
        kept = page.client.get(route, params={"path": path}, headers={"If-None-Match": first.headers["etag"]})
        assert_refused(kept, route)


def test_an_indexed_file_that_is_gone_is_404(page, serving_core):
    path = serving_core.add_image(png_bytes((10, 90, 90)), "gone.png")["path"]
    (page.images / path).unlink()
    for route in ROUTES:
        assert_refused(page.client.get(route, params={"path": path}), route)


# --------------------------------------------------------------------------- 503
def test_before_attach_image_routes_are_503_and_the_page_is_served():
    with TestClient(make_web_app()) as client:
        for route in ROUTES:
            resp = client.get(route, params={"path": "a.png"})
            assert (resp.status_code, resp.content) == (503, UNAVAILABLE), route
            assert resp.headers["x-content-type-options"] == "nosniff"
        assert client.get("/").status_code == 200


def test_store_unavailable_is_503(unreachable_core):
    app = make_web_app()
    attach(app, unreachable_core)
    with TestClient(app) as client:
        for route in ROUTES:
            resp = client.get(route, params={"path": "uploads/a.png"})
            assert (resp.status_code, resp.content) == (503, UNAVAILABLE), route
            # a path refused outright never asks the store: the same 404 as always
            assert_refused(client.get(route, params={"path": "../etc/passwd"}), route)
