"""docker-compose.yml cannot run here (no Docker engine): check what can be checked."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[3] / "docker-compose.yml"


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
    assert milvus["environment"]["ETCD_ENDPOINTS"] == "etcd:2379"
    assert milvus["environment"]["MINIO_ADDRESS"] == "minio:9000"
    assert {"19530:19530", "9091:9091"} <= set(milvus["ports"])


# ---- one Milvus configuration for Compose and tools/stack.sh (#11) ----------------------
OVERLAY = COMPOSE.parent / "deploy" / "milvus.yaml"
DRIFT_KEYS = ("etcd.rootPath", "minio.bucketName", "minio.rootPath", "common.storageType")


def _normalised(key: str) -> str:
    """How Milvus matches an environment variable to a config key (MINIO_BUCKET_NAME ~ minio.bucketName)."""
    return key.lower().replace("_", "").replace(".", "")


def test_compose_milvus_reads_the_overlay_and_does_not_override_it():
    milvus = load()["services"]["standalone"]
    assert "./deploy/milvus.yaml:/milvus/configs/milvus.yaml:ro" in milvus["volumes"]
    overridden = {_normalised(k) for k in milvus["environment"]}
    assert not overridden & {_normalised(k) for k in DRIFT_KEYS}, milvus["environment"]


def test_stack_script_renders_the_same_milvus_settings_as_compose(tmp_path):
    import subprocess
    import sys

    overlay = yaml.safe_load(OVERLAY.read_text())
    done = subprocess.run(
        [sys.executable, str(COMPOSE.parent / "tools" / "stack.py"), "render", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load(Path(done.stdout.strip()).read_text())
    for dotted in (*DRIFT_KEYS, "etcd.use.embed", "common.gracefulStopTimeout", "minio.accessKeyID"):
        section, *rest = dotted.split(".")
        want, got = overlay[section], rendered[section]
        for key in rest:
            want, got = want[key], got[key]
        assert got == want, (dotted, got, want)
    assert rendered["etcd"]["use"]["embed"] is False and rendered["common"]["storageType"] == "minio"


def test_compose_and_stack_share_version_keys_and_pins():
    services = load()["services"]
    overlay = yaml.safe_load(OVERLAY.read_text())
    # the same Milvus release in both worlds (stack.sh starts the `milvus` wheel's binary)
    assert services["standalone"]["image"] == f"milvusdb/milvus:v{version('milvus')}"
    # MinIO stays pinned; its keys and Milvus's come from the same variables, defaulting to the overlay's
    assert services["minio"]["image"].startswith("minio/minio:RELEASE.")
    minio_env, milvus_env = services["minio"]["environment"], services["standalone"]["environment"]
    access = overlay["minio"]["accessKeyID"]
    assert (
        minio_env["MINIO_ROOT_USER"]
        == milvus_env["MINIO_ACCESS_KEY_ID"]
        == f"${{MINIO_ACCESS_KEY_ID:-{access}}}"
    )
    secret = overlay["minio"]["secretAccessKey"]
    assert (
        minio_env["MINIO_ROOT_PASSWORD"]
        == milvus_env["MINIO_SECRET_ACCESS_KEY"]
        == f"${{MINIO_SECRET_ACCESS_KEY:-{secret}}}"
    )
    # the public ports stack.sh defaults to are Compose's
    ports = {p for spec in services.values() for p in spec.get("ports", [])}
    assert {"2379:2379", "9000:9000", "19530:19530", "9091:9091"} <= ports
    # the server wheels the tools install when missing are the test extra's
    wheels_sh = (COMPOSE.parent / "tools" / "server_wheels.sh").read_text()
    pyproject = (COMPOSE.parent / "pyproject.toml").read_text()
    for spec in ("SEAWEEDFS_SPEC", "MILVUS_SPEC"):
        pin = re.search(rf'{spec}="([a-z-]+==[^"]+)"', wheels_sh).group(1)
        assert f'"{pin};' in pyproject or f'"{pin}"' in pyproject, pin
