"""Fixtures for the scale-out tests (issue 12): a SeaweedFS S3 server and a tiny-model encoder.

The Milvus fixtures (``milvus_backend`` ...) come from ``tests/milvus_fixtures.py``; the Ray
cluster fixture lives in ``ray_cluster.py`` beside this file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from s3_server import S3Server

from clipvec.encoder import ClipEncoder


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS S3 server for the session (bucket ``photos``), stopped at the end."""
    server = S3Server(tmp_path_factory.mktemp("seaweedfs"), buckets=("photos",))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The AWS variables of the test server, set in this process too."""
    env = s3_server.env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(scope="module")
def encoder(tiny_model_dir: Path) -> ClipEncoder:
    return ClipEncoder.load(str(tiny_model_dir), precision="fp32", batch_size=8)
