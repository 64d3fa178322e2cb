"""``POST /add_image`` over real HTTP against a real ``bentoml serve`` (issue 21 items 4 and 11).

* Clients adding the same bytes under several names at once: every name is kept (listed by
  the record and served by ``/ui/file``), and ``created`` is true for exactly one of them
  (a name was lost in 4 of 20 trials, both answers said ``created: true``).
* The answer's ``path`` is the name just saved, not the record's first name.
* No answer names the model by its folder on the server: ``model`` is the folder's name.
"""

from __future__ import annotations

import hashlib
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from payloads import png_bytes

NAMES = 5  # a hit lists 5 paths: all of them are seen
ROUNDS = 3


def fresh_image(rng: random.Random) -> bytes:
    """Bytes no other test of the shared service adds."""
    color = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    return png_bytes(color, (rng.randrange(40, 90), rng.randrange(40, 90)))


def add(url: str, data: bytes, name: str) -> requests.Response:
    return requests.post(f"{url}/add_image", params={"name": name}, data=data, timeout=120)


def test_concurrent_adds_of_the_same_bytes_keep_every_name(services):
    svc = services.tiny()
    rng = random.Random()
    for round_ in range(ROUNDS):
        data = fresh_image(rng)
        digest = hashlib.sha256(data).hexdigest()
        names = [f"race{round_}-{i}.png" for i in range(NAMES)]
        start = threading.Barrier(NAMES)

        def racer(name: str, data: bytes = data, start: threading.Barrier = start) -> requests.Response:
            start.wait()
            return add(svc.url, data, name)

        with ThreadPoolExecutor(NAMES) as pool:
            answers = list(pool.map(racer, names))
        assert [a.status_code for a in answers] == [200] * NAMES, [a.text for a in answers]
        bodies = [a.json() for a in answers]
        saved = [f"uploads/{digest[:16]}-{name}" for name in names]
        again = add(svc.url, data, names[0]).json()  # the record as stored now
        assert sorted(again["paths"]) == sorted(saved), f"round {round_}: names lost"
        assert again["created"] is False and again["path_count"] == NAMES, again
        assert sum(b["created"] for b in bodies) == 1, bodies  # one of them made the record
        for path in saved:
            resp = requests.get(f"{svc.url}/ui/file", params={"path": path}, timeout=60)
            assert resp.status_code == 200 and resp.content == data, (path, resp.status_code)
        assert [b["path"] for b in bodies] == saved  # each answer names the file it saved
        assert all(b["path_listed"] for b in bodies)


def test_the_add_answer_names_the_file_just_saved(services):
    svc = services.tiny()
    data = fresh_image(random.Random())
    digest = hashlib.sha256(data).hexdigest()
    first = add(svc.url, data, "first-name.png").json()
    second = add(svc.url, data, "second-name.png").json()
    assert first["path"] == f"uploads/{digest[:16]}-first-name.png"
    assert second["path"] == f"uploads/{digest[:16]}-second-name.png"  # was the record's first name
    assert second["paths"] == [first["path"], second["path"]] and second["created"] is False
    assert (svc.images / second["path"]).read_bytes() == data  # type: ignore[attr-defined]


def test_no_answer_names_the_model_folder(services, tiny_model_dir):
    svc = services.tiny()
    folder = str(tiny_model_dir)
    image = fresh_image(random.Random())
    text = {"Content-Type": "text/plain"}
    answers = {
        "vectorize_text": requests.post(f"{svc.url}/vectorize_text", data="dog", headers=text, timeout=60),
        "vectorize_image": requests.post(f"{svc.url}/vectorize_image", data=image, timeout=60),
        "vectorize_texts": requests.post(f"{svc.url}/vectorize_texts", json=["a", "b"], timeout=60),
        "vectorize_images": requests.post(
            f"{svc.url}/vectorize_images", files={"one": ("one.png", image, "image/png")}, timeout=60
        ),
        "search_text": requests.post(f"{svc.url}/search_text", data="dog", headers=text, timeout=60),
        "search_image": requests.post(f"{svc.url}/search_image", data=image, timeout=60),
        "add_image": add(svc.url, image, "model-name.png"),
        "collection_info": requests.post(f"{svc.url}/collection_info", json={}, timeout=60),
    }
    for route, resp in answers.items():
        assert resp.status_code == 200, (route, resp.text[:300])
        assert resp.json()["model"] == tiny_model_dir.name, route
        assert folder not in resp.text and str(tiny_model_dir.parent) not in resp.text, route
