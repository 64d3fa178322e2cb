"""Images added over HTTP are kept as files, so they can be shown and re-imported later.

Files are written safely into ``images_dir/uploads/``: the folder is opened without
following symlinks, the bytes go to an unpredictable hidden temporary name created with
``O_CREAT|O_EXCL|O_NOFOLLOW`` (a planted file or symlink is never written through), then
renamed into place. The same bytes are saved once whatever name they arrive under (a new
name is a hard link to the saved file, so the record can list it); a full
disk is :class:`~clipvec.errors.StorageFull` (507) and leaves no temporary file behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import secrets
import stat
from pathlib import Path

from clipvec.errors import ClipvecError, StorageFull
from clipvec.sources.types import SavedUpload

log = logging.getLogger("clipvec.sources.uploads")

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
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def safe_name(name: str) -> str:
    """A file name with no folders, no hidden prefix and no odd characters."""
    base = os.path.basename(name.replace("\\", "/"))
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip("._")
    return base[:100]


def _open_folder(images_dir: Path) -> int:
    """A descriptor of ``images_dir/uploads``, created if needed; a symlink there is refused."""
    try:
        images_dir.mkdir(parents=True, exist_ok=True)
        root = os.open(images_dir, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    except OSError as exc:
        raise _failure(exc, "cannot open the images folder") from exc
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(UPLOAD_FOLDER, 0o755, dir_fd=root)
        return os.open(UPLOAD_FOLDER, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=root)
    except OSError as exc:
        raise _failure(exc, "cannot open the uploads folder (is it a symlink?)") from exc
    finally:
        os.close(root)


def _failure(exc: OSError, what: str) -> ClipvecError:
    log.error("%s: %s", what, exc)
    if exc.errno in _FULL:
        return StorageFull(f"the images folder's disk is full ({what})")
    return ClipvecError(f"{what}; the service log has the details", code="upload_failed", status=500)


def _same_bytes(folder: int, name: str, data: bytes) -> bool:
    """Whether ``uploads/name`` is a regular file (not a symlink) holding exactly ``data``."""
    try:
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _CLOEXEC, dir_fd=folder)
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(data):
            return False
        with os.fdopen(fd, "rb", closefd=False) as f:
            return hashlib.sha256(f.read()).digest() == hashlib.sha256(data).digest()
    except OSError:
        return False
    finally:
        os.close(fd)


def _existing(folder: int, digest: str, data: bytes) -> str | None:
    """The name of an earlier upload of the same bytes, under any name."""
    prefix = digest[:16] + "-"
    try:
        names = sorted(n for n in os.listdir(folder) if n.startswith(prefix))
    except OSError:
        return None
    return next((n for n in names if _same_bytes(folder, n, data)), None)


def _write_new(folder: int, name: str, data: bytes) -> None:
    """Write ``data`` to ``uploads/name`` through an exclusive, unpredictable temporary file."""
    tmp = f".{secrets.token_hex(16)}.part"  # hidden: importers skip it
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o644, dir_fd=folder)
    except OSError as exc:
        raise _failure(exc, "cannot create the upload file") from exc
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)  # never follows a planted link
    except OSError as exc:
        try:
            os.unlink(tmp, dir_fd=folder)
        except OSError:
            log.warning("cannot remove the partial upload %s", tmp)
        raise _failure(exc, "cannot write the upload file") from exc


def _link(folder: int, existing: str, name: str) -> bool:
    """Give an already saved file a second name (a hard link: its bytes are stored once)."""
    try:
        os.link(existing, name, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
    except OSError as exc:  # name taken, or a file system without hard links: keep the one name
        log.info("upload %s kept under %s only: %s", name, existing, exc)
        return False
    return True


def upload_rel_path(data: bytes, name: str, image_format: str) -> tuple[str, str]:
    """(path below the images folder, sha256) of an upload: named by content, so writes are idempotent."""
    digest = hashlib.sha256(data).hexdigest()
    stem = Path(safe_name(name)).stem or "image"
    return f"{UPLOAD_FOLDER}/{digest[:16]}-{stem}{_EXTENSIONS.get(image_format, '.img')}", digest


def save_upload(images_dir: Path, data: bytes, name: str, image_format: str) -> SavedUpload:
    """Write ``data`` once under ``images_dir/uploads/`` (named by content) and say where."""
    rel, digest = upload_rel_path(data, name, image_format)
    target = rel.split("/", 1)[1]
    folder = _open_folder(images_dir)
    try:
        found = target if _same_bytes(folder, target, data) else _existing(folder, digest, data)
        created = found != target
        if found is None:
            _write_new(folder, target, data)
            found = target
        elif created and _link(folder, found, target):
            found = target  # the same bytes under a new name: a second name, not a second copy
        else:
            created = False
        mtime = os.stat(found, dir_fd=folder, follow_symlinks=False).st_mtime
    except OSError as exc:
        raise _failure(exc, "cannot read the upload file back") from exc
    finally:
        os.close(folder)
    return SavedUpload(f"{UPLOAD_FOLDER}/{found}", digest, mtime, created)


def remove_upload(images_dir: Path, saved: SavedUpload) -> None:
    """Remove a file :func:`save_upload` just created (the store write failed: no orphans)."""
    if not saved.created:
        return
    try:
        folder = _open_folder(images_dir)
    except ClipvecError:
        return
    try:
        os.unlink(saved.rel_path.split("/", 1)[1], dir_fd=folder)
    except OSError as exc:
        log.warning("cannot remove the orphaned upload %s: %s", saved.rel_path, exc)
    finally:
        os.close(folder)
