"""What every source deals in: found files, skipped entries, saved uploads, and the protocol.

A source is a place that holds images: a local folder (:mod:`clipvec.sources.folder`) or an
S3 prefix (:mod:`clipvec.sources.s3`). The importer (local and Ray) asks it to **list** its
files and to **open** one by the path it stores; the service asks it to **save** an upload
(and to remove it again when the store refused the record); the page asks it to **read**
an indexed file (opened, to stream it). No caller branches on the kind of source.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from clipvec.errors import ClipvecError


class SourceUnavailable(ClipvecError):
    """The source cannot be listed at all (no bucket, bad credentials, endpoint down)."""

    status, code = 503, "source_unavailable"


@dataclass(frozen=True)
class FoundFile:
    rel_path: str  # the path to store: relative to a folder ("/" separated, escaped), or an s3:// URI
    size: int
    mtime: float


@dataclass(frozen=True)
class SkippedEntry:
    """Something in the source that is not imported, and why (shown to the user)."""

    rel_path: str
    reason: str  # empty_file, not_a_file, dangling_symlink, symlink_loop, unreadable
    detail: str


@dataclass(frozen=True)
class SavedUpload:
    """An image saved by ``POST /add_image``: where it is stored and what it holds."""

    rel_path: str  # the stored path: below the images folder ("/" separated), or an s3:// URI
    content_hash: str
    mtime: float
    created: bool = True  # False: rel_path existed before (remove_upload leaves it alone)


class IndexedFile:
    """An indexed file opened for the page, read in pieces (a 183 MiB file is never held whole).

    ``size``, ``version`` (changes whenever the file does; None: unknown) and ``modified``
    (seconds since the epoch; None: unknown) are taken when it is opened, from the open file
    itself. Readers stop when :meth:`changed` says the file is no longer what was opened, so
    a truncated or rewritten file is never sent as if complete. Close it when done.
    """

    size: int = 0
    version: str | None = None
    modified: float | None = None

    def read_at(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset`` (fewer only at the end, or when the file shrank)."""
        raise NotImplementedError

    def changed(self) -> bool:
        """Whether the file no longer matches what was opened (size or modification time)."""
        return False

    def close(self) -> None:
        """Release the file (the descriptor or connection)."""

    def read_all(self) -> bytes:
        """The whole file (for decoding it); ``OSError`` if it shrank meanwhile."""
        data = self.read_at(0, self.size)
        if len(data) != self.size:
            raise OSError(f"the file shrank while it was read ({len(data)} of {self.size} bytes)")
        return data

    def __enter__(self) -> IndexedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Source(Protocol):
    """What the importer, the service and the page need from a place that holds images."""

    @property
    def display(self) -> str: ...

    @property
    def stored_prefix(self) -> str:
        """What this source's stored paths start with ("" for the images folder; ``clipvec.sources.roots``)."""
        ...

    def scan(self, skipped: list[SkippedEntry] | None = None) -> Iterator[FoundFile]:
        """Every candidate file, in a stable order; ``rel_path`` is the path to store.

        What is passed over for a reason the user should hear about goes into ``skipped``.
        """
        ...

    def read(self, path: str) -> bytes:
        """The bytes of the file stored as ``path``; ``OSError`` when it cannot be read."""
        ...

    def open(self, path: str) -> BinaryIO:
        """The file stored as ``path``, to read in pieces (sniff first, read the rest if an image)."""
        ...

    def owns(self, path: str) -> bool:
        """True when a stored ``path`` belongs to this source (prune and renames only touch these)."""
        ...

    def legacy_path(self, path: str) -> str | None:
        """What a clipvec before issue 22 stored instead of ``path`` (relative to any folder), if not the same."""
        ...

    def below(self, path: str) -> str:
        """A stored ``path`` of this source as the user's report shows it (below the imported folder)."""
        ...

    def save_upload(self, data: bytes, name: str, image_format: str) -> SavedUpload:
        """Keep an uploaded image (named by its content, so saving it twice is harmless)."""
        ...

    def remove_upload(self, saved: SavedUpload) -> None:
        """Undo :meth:`save_upload` when the store refused the record (no orphan file)."""
        ...

    def serves(self, path: str) -> bool:
        """Whether :meth:`open_indexed` may serve ``path`` (cheap: nothing is read)."""
        ...

    def open_indexed(self, path: str) -> IndexedFile | None:
        """The file behind a stored ``path``, opened for the page, or None if it cannot be served safely."""
        ...
