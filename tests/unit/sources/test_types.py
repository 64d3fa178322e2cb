"""What every source deals in, and that both sources offer the whole Source protocol."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from clipvec.errors import ClipvecError
from clipvec.sources import FolderSource, FoundFile, S3Source, SavedUpload, Source, SourceUnavailable


def protocol_members() -> list[str]:
    return [name for name in vars(Source) if not name.startswith("_")]


def test_the_protocol_is_what_the_importer_service_and_page_use():
    assert sorted(protocol_members()) == sorted(
        [
            "display",
            "stored_prefix",
            "scan",
            "read",
            "open",
            "owns",
            "legacy_path",
            "below",
            "save_upload",
            "remove_upload",
            "serves",
            "open_indexed",
        ]
    )


@pytest.mark.parametrize("kind", [FolderSource, S3Source])
def test_both_sources_offer_every_member_with_the_same_parameters(kind):
    for name in protocol_members():
        wanted, offered = inspect.getattr_static(Source, name), inspect.getattr_static(kind, name, None)
        assert offered is not None, f"{kind.__name__}.{name} is missing"
        if isinstance(wanted, property):  # a property, or a field of the frozen dataclass
            fields = {f.name for f in dataclasses.fields(kind)}
            assert isinstance(offered, property) or name in fields, name
        else:
            assert list(inspect.signature(offered).parameters) == list(
                inspect.signature(wanted).parameters
            ), name


def test_an_unavailable_source_is_a_503():
    error = SourceUnavailable("cannot list s3://b/")
    assert isinstance(error, ClipvecError)
    assert (error.status, error.code, error.to_json()) == (
        503,
        "source_unavailable",
        {"error": "source_unavailable", "detail": "cannot list s3://b/"},
    )


def test_found_files_are_values():
    """Frozen and hashable: plans keep them in lists, dicts and sets, and compare scans."""
    a = FoundFile("a.png", 10, 1.5)
    assert a == FoundFile("a.png", 10, 1.5) and len({a, FoundFile("a.png", 10, 1.5)}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.size = 11  # type: ignore[misc]


def test_a_saved_upload_was_created_unless_told_otherwise():
    assert SavedUpload("uploads/x.png", "h", 1.0).created is True
    assert SavedUpload("uploads/x.png", "h", 1.0, created=False).created is False
