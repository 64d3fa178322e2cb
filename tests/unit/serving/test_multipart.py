"""multipart/form-data bodies: the boundary and the file parts the service vectorizes.

The invalid_multipart case is the in-process twin of the form-field part of
tests/e2e/test_hardening.py's test_unknown_query_parameters_and_bad_prefixes_are_400.
"""

from __future__ import annotations

import pytest

from clipvec.errors import ClipvecError, EmptyInput, UnsupportedMediaType
from clipvec.serving.guard.multipart import boundary, parse_multipart

CT = "multipart/form-data; boundary=XyZ"


def part(headers: str, data: bytes) -> bytes:
    return b"--XyZ\r\n" + headers.encode() + b"\r\n\r\n" + data + b"\r\n"


def file_part(name: str, data: bytes) -> bytes:
    return part(
        f'Content-Disposition: form-data; name="files"; filename="{name}"\r\nContent-Type: image/jpeg', data
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"multipart/form-data; boundary=abc", b"abc"),
        (b'multipart/form-data; charset=utf-8; BOUNDARY="a b"', b"a b"),
        (b"multipart/form-data", None),
        (b"multipart/form-data; boundary=", None),
    ],
)
def test_boundary(header, expected):
    assert boundary(header) == expected


def test_files_in_order_with_their_names_and_bytes():
    binary = bytes(range(256)) * 3
    body = file_part("a.jpg", b"\xff\xd8first") + file_part("b.png", binary) + b"--XyZ--\r\n"
    assert parse_multipart(body, CT) == [("a.jpg", b"\xff\xd8first"), ("b.png", binary)]


def test_an_empty_file_is_kept_for_its_own_error():
    body = file_part("empty.jpg", b"") + b"--XyZ--\r\n"
    assert parse_multipart(body, CT) == [("empty.jpg", b"")]


def test_a_form_field_is_refused():
    body = (
        file_part("a.jpg", b"x") + part('Content-Disposition: form-data; name="note"', b"hi") + b"--XyZ--\r\n"
    )
    with pytest.raises(ClipvecError) as caught:
        parse_multipart(body, CT)
    assert caught.value.code == "invalid_multipart" and caught.value.status == 400
    assert "part 1 ('note')" in caught.value.detail


def test_no_boundary_is_415():
    with pytest.raises(UnsupportedMediaType):
        parse_multipart(file_part("a.jpg", b"x"), "multipart/form-data")


@pytest.mark.parametrize("body", [b"", b"no parts at all", b"--XyZ--\r\n"])
def test_no_files_is_400(body):
    with pytest.raises(EmptyInput):
        parse_multipart(body, CT)
