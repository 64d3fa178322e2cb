"""The README's commands against the full stack: the data really lands in etcd and in S3."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests
import yaml
from stack_harness import COLLECTION, OVERLAY, REPO, clipvec_env

pytestmark = pytest.mark.stack


def test_up_is_health_checked_in_order_and_idempotent(stack):
    lines = [line.split()[0] for line in stack.up_output.splitlines() if "healthy in" in line]
    assert lines == ["etcd", "s3", "milvus"], stack.up_output
    pids = {name: stack.pid(name) for name in ("etcd", "s3", "milvus")}
    assert all(pids.values()), pids

    again = stack.sh("up")
    assert again.stdout.count("already running") == 3, again.stdout
    assert {name: stack.pid(name) for name in pids} == pids  # nothing restarted

    status = stack.sh("status")
    assert '{"health":"true"}' in status.stdout  # etcd, as `curl :2379/health`
    assert '{"status":"ok"}' in status.stdout  # Milvus, as `curl :9091/api/v1/health`
    assert "/api/v1/collections -> 200" in status.stdout
    assert "DOWN" not in status.stdout
    for name in ("etcd", "s3", "milvus"):
        assert (stack.data / "logs" / f"{name}.log").stat().st_size > 0


def test_import_and_search_through_the_scripts_and_the_service(stack, imported, service):
    assert "imported 48," in imported.stdout, imported.stdout

    found = subprocess.run(
        [sys.executable, "milvus_search.py", "a red circle", "--top-k", "3"],
        cwd=REPO,
        env=clipvec_env(stack),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert found.returncode == 0, found.stderr
    ids = [line.split()[1].rstrip(",") for line in found.stdout.splitlines() if line.startswith("ID:")]
    assert len(ids) == 3 and all(i.startswith("red_circle_") for i in ids), found.stdout

    resp = requests.post(
        service.url + "/search_text?top_k=3",
        data="a blue square",
        headers={"Content-Type": "text/plain"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    assert [h["path"].rsplit("_", 1)[0] for h in resp.json()["hits"]] == ["blue_square"] * 3
    info = requests.post(service.url + "/collection_info", json={}, timeout=60).json()
    assert info["count"] == 48


def test_segments_are_in_the_s3_bucket_and_metadata_in_etcd(stack, imported):
    from pymilvus import MilvusClient

    overlay = yaml.safe_load(OVERLAY.read_text())
    bucket, root = overlay["minio"]["bucketName"], overlay["etcd"]["rootPath"]
    client = MilvusClient(uri=stack.uri, timeout=30)
    try:
        client.flush(COLLECTION, timeout=120)  # seal the growing segment: its binlogs go to S3
        collection_id = client.describe_collection(COLLECTION)["collection_id"]
    finally:
        client.close()

    objects = stack.s3().list_objects_v2(Bucket=bucket, Prefix=f"files/insert_log/{collection_id}/")
    keys = [o["Key"] for o in objects.get("Contents", [])]
    assert keys, f"no insert logs of collection {collection_id} in bucket {bucket}"
    assert all(o["Size"] > 0 for o in objects["Contents"])

    etcd_keys = stack.etcd_keys(root)
    binlogs = [k for k in etcd_keys if k.startswith(f"{root}/meta/datacoord-meta/binlog/{collection_id}/")]
    assert binlogs, "no segment metadata in etcd"
    # every segment etcd knows of has its insert logs in the bucket
    segments = {k.split("/")[6] for k in binlogs}
    assert segments == {k.split("/")[4] for k in keys}, (segments, keys[:5])
    # nothing went to the default places: the overlay's root path and bucket are in use
    assert not stack.etcd_keys("by-dev/")
    assert [b["Name"] for b in stack.s3().list_buckets()["Buckets"]] == [bucket]
