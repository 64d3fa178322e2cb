"""Issue 22.5 as the user meets it: the service runs on the default Milvus Lite file, then "import".

A Lite file is open in one process only, so ``python3 milvus_import.py`` beside a running
``bentoml serve`` is refused. The refusal says what to do instead, and doing it works: the
running service imports its own images folder (``POST /import``) and searches it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests

from clipvec.model.shapes import HELD_OUT_SEED_START, draw_shape

REPO = Path(__file__).resolve().parents[2]
SEED = HELD_OUT_SEED_START + 7_700_000


def original_script(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / script), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_import_beside_a_running_service_on_lite(services):
    svc = services.tiny()
    folder = svc.images / "import-route"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"square{i}.png" for i in range(3)]
    for i, name in enumerate(names):
        draw_shape("green", "square", size=96, seed=SEED + i).save(folder / name)

    refused = original_script("milvus_import.py", svc.env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "in use by another process" in refused.stderr, refused.stderr
    assert "POST /import" in refused.stderr and "Traceback" not in refused.stderr, refused.stderr

    started = requests.post(f"{svc.url}/import", timeout=30)
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 180
    while (status := requests.post(f"{svc.url}/import_status", timeout=30).json())["state"] == "running":
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["state"] == "done", status
    assert status["result"]["failed"] == 0 and status["done"] == status["total"], status

    probe = folder / names[1]
    hits = requests.post(
        f"{svc.url}/search_image?top_k=1",
        data=probe.read_bytes(),
        headers={"Content-Type": "image/png"},
        timeout=60,
    ).json()["hits"]
    assert hits[0]["path"] == f"import-route/{names[1]}" and hits[0]["score"] > 0.999, hits
    # The page's file route serves what the import stored.
    page_file = requests.get(f"{svc.url}/ui/file", params={"path": hits[0]["path"]}, timeout=30)
    assert page_file.status_code == 200 and page_file.content == probe.read_bytes()

    again = requests.post(f"{svc.url}/import", timeout=30)
    assert again.status_code == 202, again.text
