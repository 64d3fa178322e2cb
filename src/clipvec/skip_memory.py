"""Files an import passed over (not images, too large, undecodable), remembered by path, size and mtime.

Kept in a small JSON sidecar in the imported folder (``.clipvec-skipped.json``, hidden, so
never scanned), so that an unchanged folder is never read again: a 2 GB video is sniffed
once, not on every run. A file whose size or mtime changed is looked at again. The list is
dropped when ``max_pixels`` changes (it decides which images fail). A folder we cannot write
to simply gets no memory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

from clipvec.scan import FoundFile

log = logging.getLogger(__name__)
FILE_NAME = ".clipvec-skipped.json"
VERSION = 1


class SkipMemory:
    def __init__(self, path: Path | None, max_pixels: int, files: dict[str, list] | None = None) -> None:
        self.path = path
        self.max_pixels = max_pixels
        self.files: dict[str, list] = files or {}  # rel path -> [size, mtime, reason, detail, failed]
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
        files = data.get("files")
        return cls(path, max_pixels, files if isinstance(files, dict) else {})

    def get(self, found: FoundFile) -> tuple[str, str, bool] | None:
        """(reason, detail, failed) if this exact file (same size and mtime) was passed over before."""
        entry = self.files.get(found.rel_path)
        if not entry or len(entry) != 5 or entry[0] != found.size or entry[1] != found.mtime:
            return None
        return str(entry[2]), str(entry[3]), bool(entry[4])

    def remember(self, found: FoundFile, reason: str, detail: str, *, failed: bool) -> None:
        self.files[found.rel_path] = [found.size, found.mtime, reason, detail, failed]
        self._dirty = True

    def save(self, present: set[str]) -> None:
        """Write the list back, without the files that are gone (atomic; failures only logged)."""
        if self.path is None:
            return
        kept = {p: e for p, e in self.files.items() if p in present}
        if not self._dirty and len(kept) == len(self.files):
            return
        if not kept and not self.path.exists():
            return
        tmp = self.path.with_name(f"{FILE_NAME}.{os.getpid()}.tmp")
        try:
            tmp.write_text(
                json.dumps({"version": VERSION, "max_pixels": self.max_pixels, "files": kept}),
                encoding="utf-8",
            )
            os.replace(tmp, self.path)
        except OSError as exc:
            log.info("cannot remember skipped files in %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
