"""Fixtures shared by the indexing unit tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def folder(tmp_path):
    """An empty images folder of the test's own."""
    path = tmp_path / "images"
    path.mkdir()
    return path
