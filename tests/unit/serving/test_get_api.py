"""``GET /duplicates`` in process: a real serving core (tiny model, Milvus Lite), Starlette's client."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from starlette.testclient import TestClient

from clipvec.serving.get_api import attach_get_api, make_get_app
from clipvec.store import ImageRecord


@pytest.fixture(scope="module")
def client(serving_core):
    vector = np.ones(serving_core.encoder.dim, dtype=np.float32)
    other = vector.copy()
    other[::2] = -1.0  # cosine 0 with vector
    serving_core.store.run(
        lambda store: store.upsert(
            [
                ImageRecord("a" * 64, ["trip/a.jpg"], 10, 1.7e9, 40, 30, "JPEG", vector),
                ImageRecord("b" * 64, ["trip/b.jpg"], 20, 1.7e9, 40, 30, "PNG", vector * 2),
                ImageRecord("c" * 64, ["home/c.jpg"], 30, 1.7e9, 40, 30, "PNG", other),
            ]
        )
    )
    app = make_get_app()
    attach_get_api(app, serving_core)
    with TestClient(app) as test_client:
        yield test_client


def test_groups_come_back_as_json(client):
    answer = client.get("/duplicates").json()
    assert answer["images"] == 3 and answer["group_count"] == 1 and answer["threshold"] == 0.95
    assert [m["path"] for m in answer["groups"][0]["images"]] == ["trip/b.jpg", "trip/a.jpg"]
    assert (
        client.get("/duplicates", params={"threshold": "0.9", "path_prefix": "home/"}).json()["images"] == 1
    )


@pytest.mark.parametrize(
    "query", ["threshold=1.5", "threshold=nan", "limit=0", "limit=abc", "path_prefix=a%01"]
)
def test_bad_parameters_are_400_bad_parameter(client, query):
    resp = client.get(f"/duplicates?{query}")
    assert resp.status_code == 400 and resp.json()["error"] == "bad_parameter", resp.text


def test_a_second_run_waits_and_is_answered_busy_not_queued_forever(serving_core):
    app = make_get_app()
    attach_get_api(app, serving_core)
    app.state.lane.max_wait = 0.2
    entered, release = threading.Event(), threading.Event()
    real = serving_core.duplicates

    def slow(options):
        entered.set()
        release.wait(10)
        return real(options)

    serving_core.duplicates = slow
    try:
        with TestClient(app) as test_client:
            first = threading.Thread(target=lambda: test_client.get("/duplicates"))
            first.start()
            assert entered.wait(10)
            second = test_client.get("/duplicates")
            release.set()
            first.join(10)
    finally:
        del serving_core.duplicates
    assert second.status_code == 503 and second.json()["error"] == "busy", second.text


def test_before_a_worker_attaches_its_core_the_answer_is_503():
    with TestClient(make_get_app()) as test_client:
        resp = test_client.get("/duplicates")
    assert resp.status_code == 503 and resp.json()["error"] == "unavailable"


def test_the_openapi_document_declares_the_get_route():
    from clipvec.serving.openapi import patch_openapi

    operation = patch_openapi({"openapi": "3.0.2", "paths": {}})["paths"]["/duplicates"]["get"]
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert params["threshold"] == {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1}
    assert params["limit"]["maximum"] == 1000 and "path_prefix" in params
    assert {"200", "400", "401", "409", "503"} <= set(operation["responses"])


def test_the_get_app_serves_exactly_the_get_routes_of_the_table():
    from clipvec.serving.routes import API_BY_PATH, GET_ROUTES

    served = {(route.path, tuple(sorted(route.methods))) for route in make_get_app().routes}
    assert served == {(r.path, ("GET", "HEAD")) for r in GET_ROUTES}
    assert not {r.path for r in GET_ROUTES} & set(API_BY_PATH)  # one path, one method
