"""What an import learnt about files it will not read again while their size and mtime stay.

* Files it passed over (not images, too large, undecodable), with the reason.
* Copies: files whose bytes are stored under another path. A record keeps the mtime of its
  first path only, so without this a copy would be read and hashed on every run.

Kept in a small JSON sidecar in the imported folder (``.clipvec-skipped.json``, hidden, so
never scanned), so that an unchanged folder is never read again: a 2 GB video is sniffed
once, not on every run. A file whose size or mtime changed is looked at again. The list is
dropped when ``max_pixels`` changes (it decides which images fail). A folder we cannot write
to simply gets no memory. HEIC files skipped for want of the pillow-heif plugin are read
again once it is installed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Container
from pathlib import Path

from clipvec.errors import HeicNotEnabled
from clipvec.images.formats import SUPPORTED_FORMATS
from clipvec.sources import FoundFile

log = logging.getLogger(__name__)
FILE_NAME = ".clipvec-skipped.json"
VERSION = 1


class SkipMemory:
    def __init__(
        self,
        path: Path | None,
        max_pixels: int,
        files: dict[str, list] | None = None,
        copies: dict[str, list] | None = None,
    ) -> None:
        self.path = path
        self.max_pixels = max_pixels
        self.files: dict[str, list] = files or {}  # rel path -> [size, mtime, reason, detail, failed]
        self.copies: dict[str, list] = copies or {}  # rel path -> [size, mtime, content hash]
        self._dirty = False

    @classmethod
    def load(cls, root: Path, max_pixels: int) -> SkipMemory:
        path = root / FILE_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path, max_pixels)
        except (OSError, ValueError) as exc:
            log.info("ignoring %s: %s", path, exc)
            return cls(path, max_pixels)
        if (
            not isinstance(data, dict)
            or data.get("version") != VERSION
            or data.get("max_pixels") != max_pixels
        ):
            return cls(path, max_pixels)
        files, copies = data.get("files"), data.get("copies")
        return cls(
            path,
            max_pixels,
            files if isinstance(files, dict) else {},
            copies if isinstance(copies, dict) else {},
        )

    def get(self, found: FoundFile) -> tuple[str, str, bool] | None:
        """(reason, detail, failed) if this exact file (same size and mtime) was passed over before."""
        entry = self.files.get(found.rel_path)
        if not entry or len(entry) != 5 or entry[0] != found.size or entry[1] != found.mtime:
            return None
        if "HEIC" in SUPPORTED_FORMATS and (
            entry[2] == HeicNotEnabled.skip_reason or "pillow-heif" in str(entry[3])
        ):
            return None  # the plugin the message asked for is installed now: read it again
        return str(entry[2]), str(entry[3]), bool(entry[4])

    def remember(self, found: FoundFile, reason: str, detail: str, *, failed: bool) -> None:
        self.files[found.rel_path] = [found.size, found.mtime, reason, detail, failed]
        self._dirty = True

    def copy_of(self, found: FoundFile) -> str | None:
        """The content hash this exact file (same size and mtime) had when it was last read."""
        entry = self.copies.get(found.rel_path)
        if not entry or len(entry) != 3 or entry[0] != found.size or entry[1] != found.mtime:
            return None
        return str(entry[2])

    def remember_copy(self, found: FoundFile, content_hash: str) -> None:
        if self.copies.get(found.rel_path) != [found.size, found.mtime, content_hash]:
            self.copies[found.rel_path] = [found.size, found.mtime, content_hash]
            self._dirty = True

    def save(self, present: Container[str]) -> None:
        """Write the list back, without the files that are gone (atomic; failures only logged)."""
        if self.path is None:
            return
        kept = {p: e for p, e in self.files.items() if p in present}
        copies = {p: e for p, e in self.copies.items() if p in present}
        if not self._dirty and len(kept) == len(self.files) and len(copies) == len(self.copies):
            return
        if not kept and not copies and not self.path.exists():
            return
        tmp = self.path.with_name(f"{FILE_NAME}.{os.getpid()}.tmp")
        data = {"version": VERSION, "max_pixels": self.max_pixels, "files": kept, "copies": copies}
        try:
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.info("cannot remember skipped files in %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
