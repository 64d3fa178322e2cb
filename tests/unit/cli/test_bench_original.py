"""The seed's code path (the benchmark's baseline): CLIPProcessor + CLIPModel, one image per call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clipvec.cli.bench.inputs import build_photos
from clipvec.cli.bench.original import OriginalPath
from clipvec.cli.bench.ours import encode_files
from clipvec.model.encoder import ClipEncoder


@pytest.fixture(scope="module")
def original(tiny_model_dir) -> OriginalPath:
    return OriginalPath(tiny_model_dir)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    return build_photos(tmp_path_factory.mktemp("photos"), 3, seed=1, megapixels=(0.02, 0.06), quiet=True)


def test_encode_file_is_a_unit_vector_per_photo(original, photos):
    vector = original.encode_file(photos[0])
    assert vector.shape == (512,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_the_batched_reference_equals_one_per_call(original, photos):
    one_by_one = np.stack([original.encode_file(p) for p in photos])
    reference = original.reference(photos, batch=2)
    assert reference.shape == (3, 512)
    assert np.allclose(reference, one_by_one, atol=1e-4)


def test_the_reference_of_nothing_is_empty(original):
    assert original.reference([]).shape == (0, 512)


def test_our_fp32_path_matches_the_original(original, photos, tiny_model_dir):
    """What the benchmark's fidelity column measures: same model, same photos, nearly the same vectors."""
    ours = encode_files(ClipEncoder.load(str(tiny_model_dir), precision="fp32"), photos, decode_workers=1)
    cos = np.sum(ours * original.reference(photos), axis=1)
    assert cos.min() > 0.99, cos
