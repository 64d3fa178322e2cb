"""The page shows files of every folder imported into its collection, and of no other (issue 22.4).

Before, a folder imported from elsewhere was stored relative to itself and the page looked
for it in the images folder: "no preview" on most results, no reason given.
"""

from __future__ import annotations

import pytest
from payloads import png_bytes
from starlette.testclient import TestClient

from clipvec.indexing.importer import Importer
from clipvec.serving.web import attach, make_web_app
from clipvec.sources import open_source


@pytest.fixture(scope="module")
def page(serving_core, serving_encoder, tmp_path_factory):
    """The page of a core whose collection holds pics/, a folder outside its images folder."""
    base = tmp_path_factory.mktemp("roots")
    pics, other = base / "pics", base / "other"
    for folder, color in ((pics, (10, 200, 10)), (other, (10, 10, 200))):
        folder.mkdir()
        (folder / "a.png").write_bytes(png_bytes(color))
    source = open_source(pics, serving_core.settings.images_dir)
    serving_core.store.run(lambda store: Importer.local(serving_encoder, store).run(source))
    app = make_web_app()
    attach(app, serving_core)
    with TestClient(app) as client:
        yield client, pics.resolve(), other.resolve()


def test_a_file_of_an_imported_folder_is_served_by_its_stored_path(page):
    client, pics, _ = page
    resp = client.get("/file", params={"path": f"{pics}/a.png"})
    assert resp.status_code == 200 and resp.content == (pics / "a.png").read_bytes()
    thumb = client.get("/thumb", params={"path": f"{pics}/a.png"})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"


def test_a_file_of_a_folder_never_imported_is_not_served(page):
    client, _, other = page
    assert client.get("/file", params={"path": f"{other}/a.png"}).status_code == 404
    assert client.get("/file", params={"path": "/etc/passwd"}).status_code == 404
