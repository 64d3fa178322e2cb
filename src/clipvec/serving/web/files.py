"""Indexed files for the page: found through the collection, read through their source, thumbnailed.

A ``path`` is served only when it is exactly a path of a record in the collection
(``store.get_by_path``) and its source serves it (a folder: a regular file whose real path
lies inside the folder; S3: an object of the record's bucket). A record lists at most
``PATHS_KEPT`` names; a file the source serves whose bytes are a stored record's is served
too (found by its content hash), so a name beyond them stays reachable (issue 21). Thumbnails and large views
are made with the project's one decoder (so HDR, TIFF, TGA, 16-bit PNG ... all work) and
cached on disk, keyed by the image's content hash and the size.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from clipvec.errors import ClipvecError
from clipvec.images import decode_image
from clipvec.serving.web.paths import requested_path
from clipvec.sources import IndexedFile, Source, absolute_root_of, is_absolute_stored, source_of_stored_path

if TYPE_CHECKING:
    from clipvec.serving.core import ServingCore

log = logging.getLogger("clipvec.web")
_HEX = re.compile(r"[0-9a-fA-F]{8,128}")
ROOTS_RECHECK = 2.0  # seconds: a folder imported meanwhile is found after this
ROOTS_MAX_AGE = 60.0  # seconds: a root dropped meanwhile stops being served after this


@dataclass(frozen=True)
class Indexed:
    rel: str
    source: Source  # the folder, or the S3 bucket of an s3:// path (issue 12)
    content_hash: str


def open_indexed(item: Indexed) -> tuple[IndexedFile, str] | None:
    """An indexed file opened to be read in pieces, and an ETag for it; ``None`` if it cannot be."""
    opened = item.source.open_indexed(item.rel)
    if opened is None:
        return None
    if opened.version is None:  # S3: the record's content hash names the bytes
        return opened, f'"s{item.content_hash[:32]}-{opened.size:x}"'
    return opened, f'"{opened.version}"'


def content_hash(source: Source, rel: str, limit: int) -> str | None:
    """The sha256 of the file stored as ``rel``, read in pieces; ``None`` if unreadable or over ``limit`` bytes."""
    digest, total = hashlib.sha256(), 0
    try:
        with source.open(rel) as f:
            while chunk := f.read(1 << 20):
                total += len(chunk)
                if total > limit:  # larger than any imported file: not a stored content
                    return None
                digest.update(chunk)
    except (OSError, ClipvecError) as exc:
        log.debug("cannot hash %s: %s", rel, exc)
        return None
    return digest.hexdigest()


class PageFiles:
    """Finds indexed image files for one serving core and makes (cached) JPEG renditions of them."""

    def __init__(self, core: ServingCore) -> None:
        self.core = core
        self._cache_dir: Path | None = None
        self._cache_checked = False
        self._lock = threading.Lock()
        # Decoding large images is CPU-heavy: never let thumbnails crowd out the encoder.
        self._decode_slots = threading.BoundedSemaphore(2)
        self._root_names: tuple[list[str], float] = ([], 0.0)

    def lookup(self, raw: str | None, version: str | None = None) -> Indexed | None:
        """The indexed file behind ``raw``, or ``None`` for anything refused.

        ``version`` is the page's ``v=``, the start of the hit's content hash: with it the
        record is found by its key, so every stored name works, even one no filter can carry
        (a newline or tab in a file name). Raises :class:`StoreUnavailable` (and the other
        store errors) when the collection cannot be asked.
        """
        rel = requested_path(raw)
        if rel is None:
            return None
        record = self.core.store.run(lambda store: store.get_by_path(rel, hash_prefix=version))
        if record is None or rel not in list(getattr(record, "paths", [rel])):
            return self._unlisted_copy(rel)
        source = source_of_stored_path(rel, self.core.images, self._roots(rel))
        if source is None or not source.serves(rel):
            return None
        return Indexed(rel, source, str(record.content_hash))

    def _roots(self, rel: str) -> list[str]:
        """The collection's recorded roots, for an absolute ``rel`` only (cached; asked again
        when one is missing, at most every ``ROOTS_RECHECK`` seconds)."""
        if not is_absolute_stored(rel):
            return []
        names, fetched = self._root_names
        now = time.monotonic()
        stale = now - fetched > ROOTS_RECHECK
        if (
            fetched == 0.0
            or (stale and absolute_root_of(rel, names) is None)
            or now - fetched > ROOTS_MAX_AGE
        ):
            names = self.core.store.run(lambda store: store.roots())
            self._root_names = (names, now)
        return names

    def _unlisted_copy(self, rel: str) -> Indexed | None:
        """``rel`` when its bytes are a stored record's: a name beyond the ``PATHS_KEPT`` a record lists.

        Only the images folder (or S3 prefix) is looked in, never another bucket.
        """
        source = self.core.images
        if not (source.owns(rel) and source.serves(rel)):
            return None
        digest = content_hash(source, rel, self.core.settings.max_file_bytes)
        if digest is None:
            return None
        found = self.core.store.run(lambda store: store.get([digest]))
        return Indexed(rel, source, digest) if digest in found else None

    # ---------------------------------------------------------------- cache
    def cache_dir(self) -> Path | None:
        """CLIPVEC_THUMB_DIR, else ``images_dir/.thumbs``, else the user cache; ``None``: no caching."""
        with self._lock:
            if self._cache_checked:
                return self._cache_dir
            self._cache_checked = True
            for candidate in self.core.settings.thumb_dir_candidates():
                try:
                    candidate.mkdir(parents=True, exist_ok=True)
                except OSError:
                    continue
                if os.access(candidate, os.W_OK | os.X_OK):
                    self._cache_dir = candidate
                    break
            if self._cache_dir is None:
                log.warning("no writable thumbnail cache folder; thumbnails are made on every request")
            return self._cache_dir

    @staticmethod
    def cache_key(content_hash: str, variant: str) -> str:
        digest = (
            content_hash.lower()
            if _HEX.fullmatch(content_hash)
            else hashlib.sha256(content_hash.encode()).hexdigest()
        )
        return f"{digest}-{variant}"

    def cached(self, key: str) -> bytes | None:
        """A rendition made before (cheap: one small file read), or ``None``."""
        folder = self.cache_dir()
        if folder is None:
            return None
        try:
            return (folder / key[:2] / f"{key}.jpg").read_bytes()
        except OSError:
            return None

    def _keep(self, key: str, data: bytes) -> None:
        folder = self.cache_dir()
        if folder is None:
            return
        target = folder / key[:2] / f"{key}.jpg"
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, target)
        except OSError as exc:
            log.warning("cannot cache thumbnail %s: %s", target, exc)
            tmp.unlink(missing_ok=True)

    # ---------------------------------------------------------------- renditions
    def rendition(self, item: Indexed, longest: int, key: str) -> bytes | None:
        """A JPEG of ``item`` at most ``longest`` pixels on its longest side (cached)."""
        cached = self.cached(key)
        if cached is not None:
            return cached
        # The file is read inside the slot: only as many whole files in memory as decodes run.
        with self._decode_slots:
            opened = open_indexed(item)
            if opened is None:
                return None
            try:
                with opened[0] as file:
                    data = file.read_all()
                decoded = decode_image(data, max_pixels=self.core.settings.max_pixels, min_side=longest)
            except OSError as exc:
                log.info("cannot read %s: %s", item.rel, exc)
                return None
            except ClipvecError as err:
                log.info("cannot show %s: %s", item.rel, err.detail)
                return None
            del data
            image = decoded.image
            if max(image.size) > longest:
                image = image.copy()
                image.thumbnail((longest, longest), Image.Resampling.LANCZOS, reducing_gap=3.0)
            out = io.BytesIO()
            image.save(
                out, "JPEG", quality=85 if longest <= 512 else 90, optimize=True, progressive=longest > 512
            )
        jpeg = out.getvalue()
        self._keep(key, jpeg)
        return jpeg
