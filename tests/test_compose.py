"""docker-compose.yml cannot run here (no Docker engine): check what can be checked."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"


def load() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_stack_has_the_four_services_with_health_checks():
    services = load()["services"]
    assert set(services) == {"etcd", "minio", "standalone", "vectorizer"}
    for name, spec in services.items():
        assert "healthcheck" in spec, name


def test_images_are_pinned_and_milvus_matches_the_tested_server():
    services = load()["services"]
    for name, spec in services.items():
        image = spec["image"]
        if name == "vectorizer":
            assert image == "bentoml:latest"  # what `bentoml containerize ... -t bentoml:latest` makes
            continue
        assert ":" in image and not image.endswith(":latest"), image
    # The suite tests against the PyPI `milvus` package's server binary; keep the stack in step.
    assert services["standalone"]["image"] == f"milvusdb/milvus:v{version('milvus')}"


def test_service_is_wired_to_milvus_and_waits_for_it():
    services = load()["services"]
    vectorizer = services["vectorizer"]
    assert vectorizer["environment"]["CLIPVEC_MILVUS_URI"] == "http://standalone:19530"
    assert vectorizer["depends_on"]["standalone"]["condition"] == "service_healthy"
    assert "3000:3000" in vectorizer["ports"]
    milvus = services["standalone"]
    assert milvus["environment"] == {"ETCD_ENDPOINTS": "etcd:2379", "MINIO_ADDRESS": "minio:9000"}
    assert {"19530:19530", "9091:9091"} <= set(milvus["ports"])
