"""Requests' contents shared by the serving tests in process and over real HTTP: images, answers, targets."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

NOT_FOUND = b'{"error":"not_found","detail":"no such image in the collection"}'


def jpeg_bytes(width: int = 160, height: int = 120, seed: int = 0) -> bytes:
    """A noisy gradient JPEG: distinct seeds give distinct images (and vectors)."""
    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    pixels = np.clip(gradient + rng.normal(0, 30, (height, width, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def big_png(pixels: int = 100_000_000) -> bytes:
    """A legal PNG of ``pixels`` pixels in ~97 KB (100 MP): cheap to send, costly to decode."""
    side = int(pixels**0.5)
    buf = io.BytesIO()
    Image.new("L", (side, side), 0).save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def assert_unit_vector(payload: dict, dim: int = 512) -> np.ndarray:
    """A vector answer: ``dim`` floats of unit length."""
    vector = np.asarray(payload["vector"], dtype=np.float32)
    assert vector.shape == (dim,)
    assert payload["dim"] == dim
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4
    return vector


def text_answers(url: str, queries: list[str], local, dim: int) -> list[dict]:
    """``POST /vectorize_text`` for each query (UTF-8): each answer a unit vector within 0.9999 of
    ``local`` (the in-process ``TextEncoding`` of ``queries``); the answers' bodies, in order."""
    import requests

    bodies = []
    for row, query in enumerate(queries):
        resp = requests.post(
            f"{url}/vectorize_text",
            data=query.encode("utf-8"),
            headers={"Content-Type": "text/plain; charset=utf-8"},
            timeout=60,
        )
        assert resp.status_code == 200, resp.text
        vector = assert_unit_vector(resp.json(), dim=dim)
        assert float(vector @ local.vectors[row]) >= 0.9999, query
        bodies.append(resp.json())
    return bodies


# Request targets for the page's image routes that must all be a plain 404 ({route}: /ui/thumb
# or /ui/file; {legit}: the quoted path of an indexed image).
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
# A repeated parameter: the guard refuses it with 400 bad_parameter before the page sees it.
REPEATED_TARGETS = [
    "{route}?path={legit}&path=../../etc/passwd",
    "{route}?path=../../etc/passwd&path={legit}",
]
