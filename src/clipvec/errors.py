"""Errors that carry their own HTTP status and a stable machine-readable code.

The service turns any ``ClipvecError`` into ``{"error": code, "detail": text}`` with
``status``; the CLI prints ``detail``. Anything else escaping is a bug (500).
"""

from __future__ import annotations


def error_json(code: str, detail: str) -> dict[str, str]:
    """The one shape of every error answer and per-item error: ``{"error": code, "detail": text}``."""
    return {"error": code, "detail": detail}


class ClipvecError(Exception):
    """Base error: ``code`` is stable for clients, ``detail`` is for humans."""

    status: int = 400
    code: str = "bad_request"

    def __init__(
        self, detail: str, *, code: str | None = None, status: int | None = None, public: str | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        # What a client is told instead of ``detail`` when that names server paths (None: ``detail``).
        self.public_detail = public
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_json(self) -> dict[str, str]:
        return error_json(self.code, self.detail)


class EmptyInput(ClipvecError):
    status, code = 400, "empty_body"


class InvalidText(ClipvecError):
    status, code = 400, "invalid_text"


class UnsupportedMediaType(ClipvecError):
    status, code = 415, "unsupported_media_type"


class DecodeError(ClipvecError):
    """The bytes are not an image we can read (unknown, malformed or truncated)."""

    status, code = 400, "undecodable_image"


class UnsupportedImageFormat(DecodeError):
    status, code = 415, "unsupported_image_format"
    skip_reason = "not_image"  # how an import reports such a file


class HeicNotEnabled(UnsupportedImageFormat):
    """A HEIC/HEIF image while the optional pillow-heif plugin is not installed: the message says how."""

    skip_reason = "heic_not_enabled"


class TruncatedImage(DecodeError):
    status, code = 400, "truncated_image"


class ImageTooLarge(DecodeError):
    """Decompression bomb: refused from the header, before any pixel is decoded."""

    status, code = 413, "image_too_large"


class PayloadTooLarge(ClipvecError):
    status, code = 413, "payload_too_large"


class ModelMismatch(ClipvecError):
    """A collection made by one model opened with another."""

    status, code = 409, "model_mismatch"


class StoreUnavailable(ClipvecError):
    status, code = 503, "store_unavailable"


class CollectionMissing(ClipvecError):
    """A reader (search, facets, duplicates) asked for a collection that does not exist:
    nothing is created for it, so a mistyped name leaves no empty collection behind."""

    status, code = 404, "collection_missing"


class ModelLoadError(ClipvecError):
    status, code = 503, "model_unavailable"


class UnsupportedModelFamily(ModelLoadError):
    """A checkpoint of a family clipvec cannot run (config.json's model_type): one line, no weights read."""


class StorageFull(ClipvecError):
    """A write could not be made durable because a disk (Milvus's or the images folder's) is full."""

    status, code = 507, "storage_full"


class StoreDamaged(ClipvecError):
    """The store exists but cannot be read (damaged Milvus Lite file, unreadable collection)."""

    status, code = 503, "store_damaged"


class StoreLocked(ClipvecError):
    """Another process holds the Milvus Lite file; only one process may open it."""

    status, code = 503, "store_locked"
