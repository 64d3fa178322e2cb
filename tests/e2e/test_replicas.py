"""Two service replicas on one Milvus server and a shared images folder, under 16 concurrent clients.

Each replica is a real ``bentoml serve`` process (one of them with two BentoML workers,
``CLIPVEC_WORKERS=2``). Clients add distinct images and search, alternating replicas.
Afterwards no acknowledged write is missing and both replicas see every image.
"""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from PIL import Image
from service_process import ServiceProcess

pytestmark = pytest.mark.server

CLIENTS = 16
ADDS_PER_CLIENT = 4


def image_bytes(client: int, i: int) -> bytes:
    """A distinct small image per (client, i): its colour encodes both."""
    buf = io.BytesIO()
    Image.new("RGB", (48, 40), (client * 15 % 256, i * 60 % 256, (client * 7 + i * 31) % 256)).save(
        buf, "PNG"
    )
    return buf.getvalue()


def worker_processes(svc: ServiceProcess) -> int:
    """BentoML worker processes of one replica (children of its ``bentoml serve``; own sessions)."""
    assert svc.proc is not None
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if int(stat[1]) == svc.proc.pid and b"_bentoml_impl.worker.service" in cmdline:
            count += 1
    return count


@pytest.fixture
def replicas(milvus_server, tmp_path, tiny_model_dir, test_output):
    shared = tmp_path / "shared-images"
    shared.mkdir()
    base = {
        "CLIPVEC_MODEL": str(tiny_model_dir),
        "CLIPVEC_MILVUS_URI": milvus_server.uri,
        "CLIPVEC_COLLECTION": "replicas",
        "CLIPVEC_IMAGES_DIR": str(shared),
        "CLIPVEC_THUMB_DIR": str(tmp_path / "thumbs"),
        "CLIPVEC_PRECISION": "fp32",
    }
    a = ServiceProcess({**base, "CLIPVEC_WORKERS": "1"}, test_output / "replica-a.log")
    b = ServiceProcess({**base, "CLIPVEC_WORKERS": "2"}, test_output / "replica-b.log")
    try:
        with ThreadPoolExecutor(2) as pool:  # both load their models at once
            list(pool.map(lambda svc: svc.start(), (a, b)))
        yield shared, a, b
    finally:
        a.stop()
        b.stop()
        from milvus_fixtures import drop_collections

        drop_collections(milvus_server.uri, "replicas")


def test_two_replicas_lose_no_acknowledged_write_and_both_see_every_image(replicas):
    shared, a, b = replicas
    assert worker_processes(a) == 1 and worker_processes(b) == 2, "CLIPVEC_WORKERS not applied"
    urls = (a.url, b.url)
    acknowledged: dict[str, str] = {}  # content hash -> path
    failures: list[str] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        session = requests.Session()
        for i in range(ADDS_PER_CLIENT):
            url = urls[(c + i) % 2]
            resp = session.post(
                f"{url}/add_image", params={"name": f"c{c}_{i}.png"}, data=image_bytes(c, i), timeout=120
            )
            if resp.status_code != 200:
                with lock:
                    failures.append(f"add {resp.status_code} {resp.text[:200]}")
                continue
            body = resp.json()
            with lock:
                acknowledged[body["content_hash"]] = body["path"]
            # the same image again through the other replica: idempotent, not a second entry
            again = session.post(
                f"{urls[(c + i + 1) % 2]}/add_image",
                params={"name": f"c{c}_{i}.png"},
                data=image_bytes(c, i),
                timeout=120,
            )
            found = session.post(
                f"{urls[(c + i + 1) % 2]}/search_text?top_k=3",
                data="a photo",
                headers={"Content-Type": "text/plain"},
                timeout=120,
            )
            for r in (again, found):
                if r.status_code != 200:
                    with lock:
                        failures.append(f"{r.request.url} {r.status_code} {r.text[:200]}")

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    assert not failures, failures[:5]
    assert len(acknowledged) == CLIENTS * ADDS_PER_CLIENT

    # every acknowledged image: its file in the shared folder, and counted by both replicas
    for path in acknowledged.values():
        assert (shared / path).is_file(), path
    deadline = time.monotonic() + 15  # another replica's write is visible within Milvus' staleness bound
    counts: list[int] = []
    while time.monotonic() < deadline:
        counts = [requests.post(f"{u}/collection_info", json={}, timeout=30).json()["count"] for u in urls]
        if counts == [len(acknowledged)] * 2:
            break
        time.sleep(0.5)
    assert counts == [len(acknowledged)] * 2

    # and found by both: each image's nearest stored image is itself, on either replica
    def nearest(args: tuple[str, int, int]) -> tuple[str, str]:
        url, c, i = args
        hits = requests.post(f"{url}/search_image?top_k=1", data=image_bytes(c, i), timeout=60).json()["hits"]
        return hits[0]["content_hash"], hits[0]["path"]

    jobs = [(u, c, i) for u in urls for c in range(CLIENTS) for i in range(ADDS_PER_CLIENT)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(nearest, jobs))
    assert sorted(set(results)) == sorted(acknowledged.items())
    assert len(results) == 2 * len(acknowledged)
