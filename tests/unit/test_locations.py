"""One rule each: a Milvus URI is a Lite file or a server; an images location is a folder or S3."""

from __future__ import annotations

import pytest

from clipvec.locations import is_lite_uri, is_s3_uri, model_shown


@pytest.mark.parametrize(
    ("uri", "lite"),
    [
        ("./milvus.db", True),
        ("milvus.db", True),
        ("/data/clipvec/milvus.db", True),
        ("~/milvus.db", True),
        ("C:\\data\\milvus.db", True),  # a drive letter's colon is no scheme
        ("http://localhost:19530", False),
        ("https://milvus.example.com", False),
        ("tcp://milvus:19530", False),
        ("grpc://milvus:19530", False),
        ("unix:/var/run/milvus.sock", False),
        ("unix:///var/run/milvus.sock", False),
    ],
)
def test_a_milvus_uri_is_a_lite_file_unless_it_names_a_server(uri, lite):
    assert is_lite_uri(uri) is lite


@pytest.mark.parametrize(
    ("location", "s3"),
    [
        ("s3://bucket", True),
        ("s3://bucket/prefix/", True),
        ("images", False),
        ("/data/s3://not-a-bucket", False),
        ("S3://bucket", False),  # the scheme is lower case, as the AWS tools write it
        ("s3:/bucket", False),
        ("./s3", False),
    ],
)
def test_an_images_location_is_s3_only_with_the_scheme(location, s3):
    assert is_s3_uri(location) is s3


@pytest.mark.parametrize(
    ("model", "shown"),
    [
        ("openai/clip-vit-base-patch32", "openai/clip-vit-base-patch32"),  # a hub id as is
        ("clip-vit-base-patch32", "clip-vit-base-patch32"),
        ("/home/x/models/clip", "clip"),  # a folder (recorded absolute): its name only
        ("/home/x/models/clip/", "clip"),
        ("~/models/shapes-clip", "shapes-clip"),
        ("./random-clip", "random-clip"),
        ("C:\\models\\clip", "clip"),
        ("/", "model"),
    ],
)
def test_a_model_is_shown_by_its_name_never_its_folder(model, shown):
    assert model_shown(model) == shown
