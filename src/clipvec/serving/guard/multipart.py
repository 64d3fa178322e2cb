"""multipart/form-data: the boundary (for counting parts as they stream) and the file parts."""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP

from clipvec.errors import ClipvecError, EmptyInput, UnsupportedMediaType


def boundary(content_type: bytes) -> bytes | None:
    """The ``boundary`` parameter of a Content-Type header, unquoted; None without one."""
    for param in content_type.split(b";")[1:]:
        key, _, value = param.strip().partition(b"=")
        if key.lower() == b"boundary" and value:
            return value.strip(b'"')
    return None


def parse_multipart(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    """(filename, bytes) of every file part of a multipart/form-data body, in order."""
    if "boundary=" not in content_type:
        raise UnsupportedMediaType("multipart/form-data without a boundary")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise EmptyInput("the multipart body has no parts")
    files: list[tuple[str, bytes]] = []
    for index, part in enumerate(message.iter_parts()):
        name = part.get_filename()
        if name is None:  # a plain form field: not something to vectorize
            field = str(part.get_param("name", header="content-disposition") or "")[:50]
            raise ClipvecError(
                f"part {index} ({field!r}) is not a file: send each image as a file part with a filename",
                code="invalid_multipart",
            )
        payload = part.get_payload(decode=True)
        files.append((str(name), payload if isinstance(payload, bytes) else b""))
    if not files:
        raise EmptyInput("the multipart body has no files")
    return files
