"""Issue 17.8 on Milvus Lite 2.5.1 and the real 2.3.5 server: importing the photo corpus (JPEG,
TIFF, PNG, WEBP with real EXIF blocks, several cameras, dates and places, and the hostile
headers) stores each file's date, offset, camera, lens and place, or unknown, exactly; from S3
too, where ``clipvec migrate`` reads the objects' headers as well."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
from milvus_fixtures import unique_collection
from photo_corpus import photos, write_corpus
from v1_collection import DIM, MODEL, create_v1_collection

from clipvec.indexing.importer import Importer
from clipvec.indexing.migrate import migrate
from clipvec.model.encoder import ClipEncoder
from clipvec.settings import Settings
from clipvec.sources import open_source
from clipvec.store import ImageRecord, ImageStore


@pytest.fixture(scope="module")
def encoder(tiny_model_dir) -> ClipEncoder:
    return ClipEncoder.load(str(tiny_model_dir), precision="fp32", batch_size=8)


def test_the_corpus_imports_with_each_files_metadata(tmp_path, milvus_backend, encoder):
    folder = tmp_path / "photos"
    expected = write_corpus(folder)
    with ImageStore(
        milvus_backend.uri, collection=milvus_backend.collection, model_name=encoder.name, dim=encoder.dim
    ) as store:
        importer = Importer.local(encoder, store, decode_workers=2, batch_size=8, upsert_batch=16)
        with warnings.catch_warnings():  # Pillow warns about the corrupt blocks on purpose here
            warnings.simplefilter("ignore")
            report = importer.run(open_source(folder, folder))
        assert report.imported == len(expected) and not report.failed
        stored = {r.path: r.meta for r in store.iter_records()}
        assert stored == expected
        # and a search hit carries them too
        some = next(r for r in store.iter_records(with_vectors=True) if r.path == "canon_paris.jpg")
        hit = store.search(some.vector, top_k=1)[0]
        assert hit.path == "canon_paris.jpg" and hit.meta.camera == "Canon EOS R5"
        assert hit.meta.taken_iso() == "2024-05-01T12:00:00+02:00"


def test_from_s3_the_import_and_the_migration_read_the_metadata(s3_env, s3_server, tmp_path, encoder):
    """The S3 source (a real SeaweedFS server) on Milvus Lite: both read the header of the object."""
    fs = s3_server.filesystem()
    prefix = f"meta-{unique_collection()}"
    picked = {p.name: p for p in photos() if p.name in ("canon_paris.jpg", "nikon_sydney.tif", "lat_95.jpg")}
    for name, photo in picked.items():
        fs.pipe(f"photos/{prefix}/{name}", photo.data)
    uri = str(tmp_path / "milvus.db")
    with ImageStore(uri, collection="s3", model_name=encoder.name, dim=encoder.dim) as store:
        importer = Importer.local(encoder, store, decode_workers=2, batch_size=8, upsert_batch=16)
        assert importer.run(open_source(f"s3://photos/{prefix}")).imported == 3
        stored = {r.path: r.meta for r in store.iter_records()}
    assert stored == {f"s3://photos/{prefix}/{n}": p.expect for n, p in picked.items()}

    old = [
        ImageRecord(hashlib.sha256(p.data).hexdigest(), [f"s3://photos/{prefix}/{n}"], 1, 1.0, 48, 40, "JPEG",
                    np.eye(1, DIM, i, dtype=np.float32)[0])
        for i, (n, p) in enumerate(picked.items())
    ]  # fmt: skip
    create_v1_collection(uri, "old", old)
    report = migrate(Settings(milvus_uri=uri, collection="old", images_dir=str(tmp_path / "none")))
    assert (report.records, report.read) == (3, 3)
    with ImageStore(uri, collection="old", model_name=MODEL, dim=DIM) as store:
        assert {r.path: r.meta for r in store.iter_records()} == stored
