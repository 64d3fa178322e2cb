"""Issue 17.8 on Milvus Lite 2.5.1 and the real 2.3.5 server: importing the photo corpus (JPEG,
TIFF, PNG, WEBP with real EXIF blocks, several cameras, dates and places, and the hostile
headers) stores each file's date, offset, camera, lens and place, or unknown, exactly."""

from __future__ import annotations

import warnings

import pytest
from photo_corpus import write_corpus

from clipvec.indexing.importer import Importer
from clipvec.model.encoder import ClipEncoder
from clipvec.sources import open_source
from clipvec.store import ImageStore


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
