"""Images added over HTTP are kept as files, so they can be shown and re-imported later."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

UPLOAD_FOLDER = "uploads"
_EXTENSIONS = {
    "JPEG": ".jpg",
    "PNG": ".png",
    "GIF": ".gif",
    "BMP": ".bmp",
    "TIFF": ".tif",
    "WEBP": ".webp",
    "HDR": ".hdr",
    "TGA": ".tga",
    "AVIF": ".avif",
    "HEIC": ".heic",
}


@dataclass(frozen=True)
class SavedUpload:
    rel_path: str  # relative to the images folder, "/" separated
    content_hash: str
    mtime: float


def safe_name(name: str) -> str:
    """A file name with no folders, no hidden prefix and no odd characters."""
    base = os.path.basename(name.replace("\\", "/"))
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip("._")
    return base[:100]


def upload_rel_path(data: bytes, name: str, image_format: str) -> tuple[str, str]:
    """(path below the images folder, sha256) of an upload: named by content, so writes are idempotent."""
    digest = hashlib.sha256(data).hexdigest()
    stem = Path(safe_name(name)).stem or "image"
    return f"{UPLOAD_FOLDER}/{digest[:16]}-{stem}{_EXTENSIONS.get(image_format, '.img')}", digest


def save_upload(images_dir: Path, data: bytes, name: str, image_format: str) -> SavedUpload:
    """Write ``data`` once under ``images_dir/uploads/`` (named by content) and say where."""
    rel, digest = upload_rel_path(data, name, image_format)
    target = images_dir / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        tmp = target.with_name(f".{target.name}.part")  # hidden: importers skip it
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return SavedUpload(rel, digest, target.stat().st_mtime)
