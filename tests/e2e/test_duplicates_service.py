"""``GET /duplicates`` over real HTTP against the shared real ``bentoml serve`` (tiny model, Lite)."""

from __future__ import annotations

import io
import random

import numpy as np
import requests
from PIL import Image


def noise_image(rng: random.Random) -> Image.Image:
    pixels = np.random.default_rng(rng.randrange(2**32)).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def test_duplicates_groups_reencoded_copies_added_over_http(services):
    svc = services.tiny()
    rng = random.Random()
    picture = noise_image(rng)
    saved = []
    for name, data in (
        (f"dup-{rng.randrange(10**9)}.png", encoded(picture, "PNG", compress_level=1)),
        (f"dup-{rng.randrange(10**9)}.bmp", encoded(picture, "BMP")),  # same pixels, other bytes
    ):
        added = requests.post(f"{svc.url}/add_image", params={"name": name}, data=data, timeout=120)
        assert added.status_code == 200, added.text
        saved.append(added.json()["path"])

    resp = requests.get(f"{svc.url}/duplicates", params={"threshold": "0.9999", "limit": "1000"}, timeout=300)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["threshold"] == 0.9999 and answer["images"] >= 2
    mine = [g for g in answer["groups"] if saved[0] in [m["path"] for m in g["images"]]]
    assert len(mine) == 1, answer
    members = {m["path"]: m for m in mine[0]["images"]}
    assert set(saved) <= set(members)
    assert {(members[p]["width"], members[p]["height"]) for p in saved} == {(64, 48)}
    assert {members[p]["format"] for p in saved} == {"PNG", "BMP"}
    assert all(members[p]["size"] > 0 and members[p]["mtime"] for p in saved)
    assert answer["group_count"] >= len(answer["groups"])

    one = requests.get(f"{svc.url}/duplicates", params={"threshold": "0.9999", "limit": "1"}, timeout=300)
    assert one.status_code == 200 and len(one.json()["groups"]) == 1

    for params in ({"threshold": "2"}, {"threshold": "x"}, {"limit": "0"}, {"thresold": "0.9"}):
        bad = requests.get(f"{svc.url}/duplicates", params=params, timeout=60)
        assert bad.status_code == 400, (params, bad.text)
        assert bad.json()["error"] == "bad_parameter", bad.text

    doc = requests.get(f"{svc.url}/docs.json", timeout=60).json()
    assert [p["name"] for p in doc["paths"]["/duplicates"]["get"]["parameters"]] == [
        "threshold",
        "path_prefix",
        "limit",
    ]
