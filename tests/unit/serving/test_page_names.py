"""Every stored file name round-trips through the page's URLs (issue 21.10), in process.

A folder of hostile names (tests/harness/hostile_names.py: backslashes, bytes that are not
UTF-8, newlines, tabs, DEL, ``#?%+&``, unicode, leading dashes) is imported for real; each
stored path is then put in a URL the way the page does (``URLSearchParams``: the form
encoding of ``urlencode``) and sent, byte for byte, to the page's app: the thumbnail and the
file answer 200 with that very file. The real server and the real browser do the same in
tests/e2e/test_web_paths.py and tests/e2e/test_ui.py.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from urllib.parse import urlencode

import pytest
from asgi_driver import run
from hostile_names import write_hostile_folder
from payloads import NOT_FOUND
from PIL import Image

from clipvec.indexing.importer import Importer
from clipvec.serving.web import attach, make_web_app


@pytest.fixture(scope="module")
def named(serving_core):
    """The page app over a collection that holds every hostile name: (app, {path: bytes}, {path: hash})."""
    images = Path(serving_core.settings.images_dir)
    files = write_hostile_folder(images / "hostile")
    files = {f"hostile/{path}": data for path, data in files.items()}
    serving_core.store.run(lambda store: Importer.local(serving_core.encoder, store).run(images))
    hashes = {}
    for record in serving_core.store.run(lambda store: list(store.iter_records())):
        for path in record.paths:
            hashes[path] = record.content_hash
    assert set(files) <= set(hashes), sorted(set(files) - set(hashes))
    app = make_web_app()
    attach(app, serving_core)
    return app, files, hashes


def page_query(path: str, content_hash: str | None, **extra: str) -> bytes:
    """The query string the page's ``imageUrl`` builds (form encoding, as URLSearchParams)."""
    params = {"path": path, **({"v": content_hash[:16]} if content_hash else {}), **extra}
    return urlencode(params).encode("ascii")


def test_every_stored_name_is_served_as_its_own_file(named):
    app, files, hashes = named
    for path, data in files.items():
        answer = run(app, "GET", "/file", query=page_query(path, hashes[path]))
        assert answer.status == 200, (path, answer.status, answer.body[:100])
        assert answer.body == data, path
        thumb = run(app, "GET", "/thumb", query=page_query(path, hashes[path], size="128"))
        assert thumb.status == 200, (path, thumb.status, thumb.body[:100])
        assert Image.open(io.BytesIO(thumb.body)).format == "JPEG"


def test_names_a_filter_can_carry_need_no_hash(named):
    """Without ``v=`` (a hand-typed URL) every name is found too: by the store's filter, or (a
    control character no filter can carry) by the file's own content being a stored record."""
    app, files, _ = named
    for path, data in files.items():
        answer = run(app, "GET", "/file", query=page_query(path, None))
        assert (answer.status, answer.body) == (200, data), path


def test_the_stored_text_names_exactly_one_file(named):
    """Near misses of a stored escape (a single backslash, upper-case hex, the decoded byte) are 404."""
    app, files, hashes = named
    stored = "hostile/back\\\\slash.png"
    assert stored in files
    content_hash = hashes[stored]
    for wrong in (
        "hostile/back\\slash.png",  # the name on disk, not the stored text
        "hostile/not-utf8-\\xFF\\xFE.png",
        "hostile/not-utf8-\udcff\udcfe.png",
        "hostile/escape-look-alike-\\x41.png",  # stored with its backslash escaped
        "hostile/../hostile/back\\\\slash.png",
        "hostile\\\\..\\\\..\\\\etc\\\\passwd",
    ):
        query = urlencode({"path": wrong, "v": content_hash[:16]}, errors="surrogatepass").encode("ascii")
        assert run(app, "GET", "/file", query=query).body == NOT_FOUND, wrong


def test_the_hash_hint_never_serves_another_record(named):
    app, files, hashes = named
    paths = sorted(files)
    first, second = paths[0], paths[1]
    assert hashes[first] != hashes[second]
    answer = run(app, "GET", "/file", query=page_query(first, hashes[second]))
    assert answer.body == files[first] or answer.body == NOT_FOUND  # found by path, or not at all
    control = next(p for p in paths if "\n" in p)
    other = next(p for p in paths if hashes[p] != hashes[control])
    # A wrong hint finds nothing; the file itself is then served only because its own
    # content is a stored record (the unlisted-name fallback), never the other record's file.
    assert run(app, "GET", "/file", query=page_query(control, hashes[other])).body == files[control]


def test_files_outside_the_folder_stay_out_of_reach(named, serving_core, tmp_path):
    """A hostile name that is a symlink out of the folder is still refused, whatever its name."""
    app, files, hashes = named
    images = Path(serving_core.settings.images_dir)
    path = next(p for p in files if "\t" in p)
    on_disk = os.path.join(os.fsencode(images), os.fsencode(path))
    (tmp_path / "outside.png").write_bytes(files[path])
    os.replace(on_disk, os.fsencode(tmp_path / "kept.png"))
    try:
        os.symlink(tmp_path / "outside.png", on_disk)
        assert run(app, "GET", "/file", query=page_query(path, hashes[path])).body == NOT_FOUND
    finally:
        os.unlink(on_disk)
        os.replace(os.fsencode(tmp_path / "kept.png"), on_disk)
