"""Issue 17.3/17.4 over real HTTP against the shared real ``bentoml serve`` (tiny model, Lite):
photos added with real EXIF blocks are found by a filtered ``search_text``, sorted by date,
listed by ``GET /facets``; a malformed filter is a 400 ``bad_parameter``."""

from __future__ import annotations

import random

import requests
from photo_corpus import encode, exif_block


def test_filtered_search_sort_and_facets_over_http(services):
    svc = services.tiny()
    tag = f"{random.randrange(16**8):08x}"  # the shared service holds other tests' images too
    camera = f"E2ECam {tag}"
    added = {}
    for i, (date, model) in enumerate(
        [("2021:06:01 10:00:00", "One"), ("2019:03:02 08:00:00", "One"), ("2020:01:01 00:00:00", "Two")]
    ):
        exif = exif_block(make=camera, model=model, lens=f"Lens {tag}", date=date, place=(-16.5, 179.99))
        data = encode("JPEG", exif, seed=int(tag, 16) + i, size=(60, 40))
        answer = requests.post(
            f"{svc.url}/add_image", params={"name": f"f-{tag}-{i}.jpg"}, data=data, timeout=120
        )
        assert answer.status_code == 200, answer.text
        added[answer.json()["path"]] = (date, model)

    def search(**params: str) -> requests.Response:
        return requests.post(
            f"{svc.url}/search_text", params={"top_k": "50", **params}, data=b"a photo", timeout=120
        )

    found = search(camera=camera.upper())
    assert found.status_code == 200, found.text
    hits = found.json()["hits"]
    assert {h["path"] for h in hits} == set(added)
    assert {h["camera"] for h in hits} == {f"{camera} One", f"{camera} Two"}

    two = search(camera=f"{tag} two", near="-16.5,-179.99,5", format="jpeg", orientation="landscape")
    assert [h["camera"] for h in two.json()["hits"]] == [f"{camera} Two"], two.text
    assert search(camera=tag, taken_before="2020-01-01").json()["hits"][0]["taken"] == "2019-03-02T08:00:00"
    assert search(camera=tag, min_width="61").json()["hits"] == []

    by_date = search(lens=f"lens {tag}", sort="taken").json()["hits"]
    assert [h["taken"][:4] for h in by_date] == ["2019", "2020", "2021"]

    for params in ({"near": "north"}, {"taken_after": "yesterday"}, {"camera": "a\x01"}, {"sort": "size"}):
        bad = search(**params)
        assert bad.status_code == 400, (params, bad.text)
        assert bad.json()["error"] == "bad_parameter", bad.text

    facets = requests.get(f"{svc.url}/facets", timeout=120)
    assert facets.status_code == 200, facets.text
    answer = facets.json()
    cameras = {c["value"]: c["count"] for c in answer["cameras"]}
    assert cameras[f"{camera} One"] == 2 and cameras[f"{camera} Two"] == 1
    assert {c["value"]: c["count"] for c in answer["lenses"]}[f"Lens {tag}"] == 3
    assert answer["taken"]["first"] <= "2019-03-02T08:00:00" and answer["taken"]["known"] >= 3
    assert answer["metadata"] is True and answer["count"] >= 3
    assert requests.get(f"{svc.url}/facets", params={"x": "1"}, timeout=60).status_code == 400
