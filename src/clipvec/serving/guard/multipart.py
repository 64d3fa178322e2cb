"""multipart/form-data: the one reading of the boundary, and the file parts.

The guard counts parts while the body streams in, and the service then parses the body:
both must split it at the same boundary, or a body the guard counted as one part is parsed
as 400k (issue 21). So the boundary is read once, here, by :func:`boundary`, which refuses
(400) every header that two readers could read differently: a header outside RFC 9110's
grammar, a parameter given twice, an RFC 2231 ``boundary*`` (extended or continued) form,
a boundary outside RFC 2046's characters, or any header whose boundary the standard
library's parser (``email``, which :func:`parse_multipart` uses) reads otherwise. The guard
hands that boundary to the service, and :func:`parse_multipart` parses the body with it,
never with the client's header.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP

from clipvec.errors import ClipvecError, EmptyInput, UnsupportedMediaType

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # RFC 9110 token
_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[^\x00-\x08\x0a-\x1f\x7f])*"'  # quoted-string
_MEDIA = re.compile(rf"[ \t]*{_TOKEN}/{_TOKEN}")
_PARAM = re.compile(rf"[ \t]*;[ \t]*({_TOKEN})=({_TOKEN}|{_QUOTED})")
_TAIL = re.compile(r"[ \t]*;?[ \t]*")  # a trailing ";" is tolerated by every reader
# RFC 2046: 1-70 of these characters, not ending with a space.
BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")


def invalid(detail: str) -> ClipvecError:
    return ClipvecError(f"multipart Content-Type: {detail}", code="invalid_multipart")


def parameters(content_type: str) -> list[tuple[str, str]]:
    """``(lower-case name, value as sent)`` of every parameter, in order; 400 outside the grammar."""
    match = _MEDIA.match(content_type)
    if match is None:
        raise invalid("not a media type")
    pos, params = match.end(), []
    while (param := _PARAM.match(content_type, pos)) is not None:
        params.append((param.group(1).lower(), param.group(2)))
        pos = param.end()
    if _TAIL.fullmatch(content_type, pos) is None:
        raise invalid(f"cannot read the parameters after position {pos}")
    return params


def boundary(content_type: bytes) -> bytes:
    """The boundary of a multipart/form-data Content-Type: 415 without one, 400 if ambiguous.

    Several Content-Type fields are handed in joined by ``", "`` (RFC 9110's rule), which
    the grammar refuses.
    """
    text = content_type.decode("latin-1")
    params = parameters(text)
    names = [name for name, _ in params]
    if any(name.startswith("boundary") and name != "boundary" for name in names):
        raise invalid("send boundary=..., not an RFC 2231 boundary*=... form")
    if len(set(names)) != len(names):
        raise invalid("a parameter is given more than once")
    value = dict(params).get("boundary")
    if value is None:
        raise UnsupportedMediaType("multipart/form-data without a boundary")
    if "\\" in value:  # a quoted-pair: some parsers unescape it, others (python-multipart) do not
        raise invalid("the boundary must not contain a backslash")
    value = value[1:-1] if value.startswith('"') else value
    if BOUNDARY.fullmatch(value) is None:
        raise invalid("the boundary must be 1-70 letters, digits or '()+_,-./:=? (RFC 2046)")
    if email_boundary(text) != value:  # the standard parser must read the very same boundary
        raise invalid("the boundary parameter is ambiguous")
    return value.encode("ascii")


def email_boundary(content_type: str) -> str | None:
    """The boundary the standard library's parser (``email``, HTTP policy) reads from a header."""
    message = EmailMessage(policy=HTTP)
    try:
        message["Content-Type"] = content_type
        return message.get_boundary()
    except (ValueError, TypeError):  # a header the email package cannot even hold
        return None


def parse_multipart(body: bytes, boundary: bytes) -> list[tuple[str, bytes]]:
    """(filename, bytes) of every file part of a multipart/form-data body, in order.

    ``boundary``: the one :func:`boundary` read (and the guard counted parts with).
    """
    if BOUNDARY.fullmatch(boundary.decode("latin-1")) is None:
        raise UnsupportedMediaType("multipart/form-data without a boundary")
    message = BytesParser(policy=HTTP).parsebytes(
        b'Content-Type: multipart/form-data; boundary="' + boundary + b'"\r\n\r\n' + body
    )
    if message.get_boundary() != boundary.decode("ascii"):  # cannot happen for an RFC 2046 boundary
        raise invalid("the boundary could not be handed to the parser")
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
