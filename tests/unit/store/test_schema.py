"""Schema facts that need no Milvus: argument checks, the description JSON, index choice, search params.

Creating, reopening and refusing collections on both backends is in
tests/integration/store/test_image_store.py.
"""

from __future__ import annotations

import json

import pytest

from clipvec.store.schema import (
    LITE_INDEXES,
    METRICS,
    SCHEMA_VERSION,
    CollectionSpec,
    index_choice,
    search_params,
)


def test_spec_normalises_the_metric_and_dim():
    spec = CollectionSpec.checked("images", "org/clip", 512.0, "cosine")  # type: ignore[arg-type]
    assert spec == CollectionSpec("images", "org/clip", 512, "COSINE")
    assert isinstance(spec.dim, int)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("images", "m", 8, "dot"), "metric must be one of COSINE, L2, IP, not 'DOT'"),
        (("images", "m", 0, "L2"), "dim must be positive, not 0"),
        (("images", "m", -3, "L2"), "dim must be positive"),
        (("bad-name", "m", 8, "L2"), "invalid Milvus collection name 'bad-name'"),
        (("1abc", "m", 8, "L2"), "not starting with a digit"),
        (("", "m", 8, "L2"), "collection name"),
        (("x" * 256, "m", 8, "L2"), "at most 255 characters"),
        (("images", "", 8, "L2"), "model_name must be a non-empty string of at most 1024 bytes"),
        (("images", "é" * 513, 8, "L2"), "model_name"),
    ],
)
def test_bad_arguments_are_refused(args, message):
    with pytest.raises(ValueError) as err:
        CollectionSpec.checked(*args)
    assert message in str(err.value)


def test_the_longest_names_are_fine():
    assert CollectionSpec.checked("_" + "a" * 254, "m" * 1024, 1, "IP").metric == "IP"
    assert METRICS == ("COSINE", "L2", "IP")


def test_description_is_stable_json():
    spec = CollectionSpec("images", "org/clip", 512, "COSINE")
    text = spec.description()
    assert text == (
        '{"clipvec": {"dim": 512, "family": "clip", "metric": "COSINE", "model": "org/clip", "schema_version": 2}}'
    )
    assert json.loads(text)["clipvec"]["schema_version"] == SCHEMA_VERSION == 2
    assert json.loads(spec.description(1))["clipvec"]["schema_version"] == 1


def test_the_description_records_the_models_family():
    """Issue 18.4: a collection knows its model's family; clip unless told (the only one before)."""
    assert json.loads(CollectionSpec.checked("c", "m", 8, "IP").description())["clipvec"]["family"] == "clip"
    spec = CollectionSpec.checked("c", "m", 8, "IP", family="siglip")
    assert json.loads(spec.description())["clipvec"]["family"] == "siglip"
    with pytest.raises(ValueError, match="family"):
        CollectionSpec.checked("c", "m", 8, "IP", family="")


@pytest.mark.parametrize(
    ("index_type", "is_lite", "expected"),
    [
        ("auto", True, ("FLAT", {})),
        ("", True, ("FLAT", {})),
        ("auto", False, ("HNSW", {"M": 16, "efConstruction": 200})),
        ("hnsw", False, ("HNSW", {"M": 16, "efConstruction": 200})),
        ("IVF_FLAT", True, ("IVF_FLAT", {"nlist": 1024})),
        ("IVF_SQ8", False, ("IVF_SQ8", {"nlist": 1024})),
        ("IVF_PQ", False, ("IVF_PQ", {"nlist": 1024, "m": 64})),
        ("AUTOINDEX", True, ("AUTOINDEX", {})),
        ("FLAT", False, ("FLAT", {})),
    ],
)
def test_index_choice_per_backend(index_type, is_lite, expected):
    assert index_choice(index_type, is_lite=is_lite, dim=512) == expected


def test_lite_refuses_indexes_it_does_not_have():
    with pytest.raises(ValueError, match="supports only FLAT, IVF_FLAT, AUTOINDEX indexes, not HNSW"):
        index_choice("HNSW", is_lite=True, dim=512)
    assert LITE_INDEXES == ("FLAT", "IVF_FLAT", "AUTOINDEX")
    assert index_choice("IVF_PQ", is_lite=False, dim=4)[1]["m"] == 1


def test_search_params_follow_the_index():
    assert search_params("HNSW", "COSINE", 10) == {"metric_type": "COSINE", "params": {"ef": 128}}
    assert search_params("HNSW", "L2", 500) == {"metric_type": "L2", "params": {"ef": 500}}
    assert search_params("IVF_FLAT", "IP", 10) == {"metric_type": "IP", "params": {"nprobe": 32}}
    assert search_params("FLAT", "COSINE", 10) == {"metric_type": "COSINE", "params": {}}
