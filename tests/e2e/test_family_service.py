"""Issue 18.3 over real HTTP: a multilingual family's service takes queries in any script, with
emoji and combining marks, unchanged (UTF-8 end to end): its vectors are the in-process
encoder's for the same text, and its token counts the tokenizer's.

One shared ``bentoml serve`` of a tiny random MetaCLIP 2 (XLM-R-style tokenizer).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests
from cli_process import run_clipvec
from payloads import jpeg_bytes, text_answers

from clipvec.model.encoder import ClipEncoder

QUERIES = [
    "猫坐在红色的沙发上 🐱",
    "赤いソファの上の猫、さくら",
    "кошка на диване",
    "قطة على أريكة حمراء",
    "लाल सोफे पर बिल्ली",
    "👨‍👩‍👧 🎂 👍🏽 ❤️",
    "cre\u0300me bru\u0302le\u0301e",  # decomposed accents: not to be recomposed on the way
]


@pytest.fixture(scope="module")
def metaclip(services, family_model_dir):
    model = family_model_dir("metaclip_2", "tiny")
    data = services.folder("metaclip_2")
    env = {
        "CLIPVEC_MODEL": str(model),
        "CLIPVEC_PRECISION": "fp32",
        "CLIPVEC_MILVUS_URI": str(data / "milvus.db"),
        "CLIPVEC_IMAGES_DIR": str(data / "images"),
    }
    svc = services.get("metaclip_2", env)
    encoder = ClipEncoder.load(str(model), device="cpu", precision="fp32", threads=1)
    return svc, encoder


def test_queries_in_any_script_are_encoded_unchanged(metaclip):
    svc, encoder = metaclip
    local = encoder.encode_texts(QUERIES)
    bodies = text_answers(svc.url, QUERIES, local, encoder.dim)
    for row, body in enumerate(bodies):
        assert body["tokens"] == local.token_counts[row] and body["truncated"] is False
    batch = requests.post(f"{svc.url}/vectorize_texts", json=QUERIES, timeout=60)
    assert batch.status_code == 200, batch.text
    vectors = np.asarray([item["vector"] for item in batch.json()["results"]], dtype=np.float32)
    assert (vectors * local.vectors).sum(axis=1).min() >= 0.9999


def test_a_multilingual_search_finds_what_was_added(metaclip):
    svc, encoder = metaclip
    added = requests.post(f"{svc.url}/add_image", data=jpeg_bytes(), timeout=60)
    assert added.status_code == 200, added.text
    resp = requests.post(
        f"{svc.url}/search_text",
        params={"top_k": 3},
        data="猫 🐱".encode(),
        headers={"Content-Type": "text/plain; charset=utf-8"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    hits = resp.json()["hits"]
    assert hits and hits[0]["path"] == added.json()["path"], resp.json()


def test_the_cli_sends_a_multilingual_query_unchanged(metaclip, tmp_path):
    """``clipvec search QUERY --service URL --json`` answers what the service answers for the same text."""
    svc, _ = metaclip
    added = requests.post(f"{svc.url}/add_image", data=jpeg_bytes(), timeout=60)  # not empty, in any order
    assert added.status_code == 200, added.text
    query = QUERIES[0] + " " + QUERIES[-1]
    answer = requests.post(
        f"{svc.url}/search_text",
        params={"top_k": 5},
        data=query.encode("utf-8"),
        headers={"Content-Type": "text/plain; charset=utf-8"},
        timeout=60,
    ).json()
    env = {
        "CLIPVEC_MODEL": str(tmp_path / "no-model-here"),  # loading it would fail: the service encodes
        "CLIPVEC_MILVUS_URI": str(tmp_path / "no.db"),
        "PYTHONIOENCODING": "utf-8",
    }
    found = run_clipvec(["search", query, "--top-k", "5", "--json", "--service", svc.url], env)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout) == {"hits": answer["hits"], "metric": answer["metric"]}
