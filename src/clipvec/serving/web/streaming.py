"""Indexed files sent in pieces, whole or one ``Range`` of them.

``/ui/file`` read the whole file into memory: twelve downloads of a 183 MiB image at once
took 2.4 GB (issue 21). Here the file stays open (the descriptor the page's checks were
made on) and goes out in :data:`PIECE` bytes at a time; the transport's flow control
holds each download to about one piece in memory.

``Range`` (RFC 9110 section 14): one range ``bytes=a-b``, ``bytes=a-`` or ``bytes=-n`` is
answered ``206`` with ``Content-Range``; one that starts past the end ``416`` with
``Content-Range: bytes */size``. Several ranges, another unit, a malformed header or an
``If-Range`` that is not the current ETag or Last-Modified get the whole file (``200``),
which the RFC allows: a server may always ignore ``Range``.

Content-Length is the size the open file had. A file truncated or rewritten while it is
sent is detected after each piece (a short read, or ``fstat`` showing another size or
modification time): the download is cut (the connection closes short of Content-Length, so
the client sees an incomplete body) and the log says why; nothing is sent as complete.
A file replaced by a rename or deleted meanwhile is still sent whole: the descriptor
keeps the old one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from email.utils import formatdate

import anyio.to_thread
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from clipvec.serving.error_bodies import json_error_response
from clipvec.sources import IndexedFile

log = logging.getLogger("clipvec.web")

PIECE = 256 * 1024  # bytes read and sent at once per download
_MAX_RANGE_HEADER = 200  # longer headers are not a single range of this file: ignored
_SINGLE = re.compile(r"bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*")


@dataclass(frozen=True)
class ByteRange:
    """The bytes ``start`` .. ``stop - 1`` of a file of ``size`` bytes."""

    start: int
    stop: int
    size: int

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.stop - 1}/{self.size}"


class Unsatisfiable(Exception):
    """The range starts at or past the end of the file (416)."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range ``header`` asks for, or ``None`` to send the whole file.

    Raises :class:`Unsatisfiable` for a well-formed single range that no byte of the file is in.
    """
    if not header or len(header) > _MAX_RANGE_HEADER:
        return None
    match = _SINGLE.fullmatch(header.strip())
    if match is None:  # another unit, several ranges, or malformed
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return ByteRange(max(0, size - suffix), size, size)
    start = int(first)
    stop = int(last) + 1 if last else size
    if last and stop <= start:
        return None  # "bytes=9-3" is invalid: ignored, not unsatisfiable
    if start >= size:
        raise Unsatisfiable
    return ByteRange(start, min(stop, size), size)


def last_modified(file: IndexedFile) -> str | None:
    return None if file.modified is None else formatdate(file.modified, usegmt=True)


def _range_applies(if_range: str | None, etag: str, modified: str | None) -> bool:
    """``If-Range``: the range only while the file is still the one the client has part of."""
    if if_range is None:
        return True
    value = if_range.strip()
    return value == etag or (modified is not None and value == modified)


class FileChanged(Exception):
    """The file was truncated or rewritten while it was being sent."""


class FileStream(StreamingResponse):
    """Sends ``part`` (or the whole) of an open indexed file and closes it, however it ends."""

    def __init__(
        self, file: IndexedFile, part: ByteRange | None, media_type: str, headers: Mapping[str, str]
    ) -> None:
        self.file = file
        self.start, self.stop = (part.start, part.stop) if part else (0, file.size)
        all_headers = {**headers, "Accept-Ranges": "bytes", "Content-Length": str(self.stop - self.start)}
        if part is not None:
            all_headers["Content-Range"] = part.content_range
        super().__init__(self._pieces(), 206 if part else 200, all_headers, media_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope.get("method") == "HEAD":  # the headers only: nothing is read
                await send(
                    {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
                )
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await super().__call__(scope, receive, send)
        finally:
            # Reads run to completion before a cancellation lands: no thread holds the file now.
            self.file.close()

    async def _pieces(self) -> AsyncIterator[bytes]:
        offset = self.start
        while offset < self.stop:
            length = min(PIECE, self.stop - offset)
            yield await anyio.to_thread.run_sync(self._piece, offset, length)
            offset += length

    def _piece(self, offset: int, length: int) -> bytes:
        piece = self.file.read_at(offset, length)
        if len(piece) != length or self.file.changed():
            log.warning(
                "a file changed while it was sent (%d bytes expected at %d, %d read): download cut short",
                length,
                offset,
                len(piece),
            )
            raise FileChanged("the file changed while it was sent")
        return piece


def file_response(
    file: IndexedFile,
    etag: str,
    media_type: str,
    headers: Mapping[str, str],
    request_headers: Mapping[str, str],
) -> Response:
    """200 with the whole file, 206 with the one range asked for, or 416; the file is closed by it."""
    modified = last_modified(file)
    out = {**headers, "ETag": etag}
    if modified is not None:
        out["Last-Modified"] = modified
    part = None
    if _range_applies(request_headers.get("if-range"), etag, modified):
        try:
            part = parse_range(request_headers.get("range"), file.size)
        except Unsatisfiable:
            file.close()
            out["Content-Range"] = f"bytes */{file.size}"
            return json_error_response(416, "range_not_satisfiable", f"the file has {file.size} bytes", out)
    return FileStream(file, part, media_type, out)
