"""The service with its images in S3: uploads go to the bucket, the page streams indexed objects only."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import requests
from PIL import Image
from scale_helpers import SEED, shape_bytes
from service_process import ServiceProcess

REPO = Path(__file__).resolve().parents[2]


def test_uploads_thumbnails_and_files_from_s3(s3_server, tmp_path, tiny_model_dir, test_output):
    fs = s3_server.filesystem()
    prefix = "s3://photos/service"
    env = {
        **s3_server.env(),
        "CLIPVEC_MODEL": str(tiny_model_dir),
        "CLIPVEC_MILVUS_URI": str(tmp_path / "milvus.db"),
        "CLIPVEC_IMAGES_DIR": prefix,
        "CLIPVEC_THUMB_DIR": str(tmp_path / "thumbs"),
    }
    # an object in the bucket that is never indexed, beside the uploads
    fs.pipe("photos/service/uploads/not-indexed.png", shape_bytes("red", "circle", SEED + 1))
    png = shape_bytes("blue", "square", SEED + 2, size=300)
    with ServiceProcess(env, test_output / "s3-service.log") as svc:
        added = requests.post(f"{svc.url}/add_image", params={"name": "sq.png"}, data=png, timeout=60)
        assert added.status_code == 200, added.text
        path = added.json()["path"]
        assert path.startswith(f"{prefix}/uploads/") and path.endswith("-sq.png"), path
        assert fs.cat_file(path) == png  # the upload is in the bucket, not on a local disk
        assert not (REPO / "s3:").exists()

        hit = requests.post(f"{svc.url}/search_image?top_k=1", data=png, timeout=60).json()["hits"][0]
        assert hit["path"] == path

        thumb = requests.get(f"{svc.url}/ui/thumb", params={"path": path, "size": 128}, timeout=60)
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        assert max(Image.open(io.BytesIO(thumb.content)).size) == 128
        original = requests.get(f"{svc.url}/ui/file", params={"path": path}, timeout=60)
        assert original.status_code == 200 and original.content == png
        cached = requests.get(
            f"{svc.url}/ui/file", params={"path": path}, headers={"If-None-Match": original.headers["etag"]}
        )
        assert cached.status_code == 304

        # only indexed objects: the same bucket's other object, other buckets, look-alikes
        for refused in (
            f"{prefix}/uploads/not-indexed.png",
            "s3://other-bucket/x.png",
            path + "x",
            path.replace("s3://", "s3:///"),
            path[len("s3://") :],
        ):
            for route in ("thumb", "file"):
                resp = requests.get(f"{svc.url}/ui/{route}", params={"path": refused}, timeout=30)
                assert resp.status_code == 404, (route, refused, resp.status_code)

    # the upload's stored stamp is what an import of the prefix computes: nothing to redo
    rerun = subprocess.run(
        [sys.executable, "-m", "clipvec", "import", prefix, "--no-progress"],
        cwd=REPO,
        env={**os.environ, **env, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "imported 1, reused 0, unchanged 1," in rerun.stdout, rerun.stdout  # + not-indexed.png
