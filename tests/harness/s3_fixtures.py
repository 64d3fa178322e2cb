"""Pytest plugin: a SeaweedFS S3 server for the session and a tiny-model encoder (issue 12).

Registered in ``tests/conftest.py``; the Milvus fixtures come from ``milvus_fixtures.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from s3_server import S3Server


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
