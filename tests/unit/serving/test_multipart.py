"""multipart/form-data bodies: the one reading of the boundary and the file parts the service vectorizes.

The invalid_multipart case is the in-process twin of the form-field part of
tests/e2e/test_hardening.py's test_unknown_query_parameters_and_bad_prefixes_are_400.
"""

from __future__ import annotations

import pytest
from python_multipart.multipart import parse_options_header

from clipvec.errors import ClipvecError, EmptyInput, UnsupportedMediaType
from clipvec.serving.guard.multipart import boundary, email_boundary, parse_multipart

CT = b"XyZ"  # the boundary the guard hands on


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
        (b"multipart/form-data; boundary=abc;", b"abc"),
        # A quoted ";" and "boundary=" inside another parameter are that parameter's value.
        (b'multipart/form-data; foo="x; boundary=aa"; boundary=zz', b"zz"),
        (b'multipart/form-data; boundary="a b"; x="; boundary=q"', b"a b"),
    ],
)
def test_boundary(header, expected):
    assert boundary(header) == expected


@pytest.mark.parametrize("header", [b"multipart/form-data", b"multipart/form-data; charset=utf-8"])
def test_no_boundary_parameter_is_415(header):
    with pytest.raises(UnsupportedMediaType):
        boundary(header)


# Headers two parsers read differently (issue 21): the guard counted parts at one boundary
# while the service parsed 400k parts at another.
HOSTILE = [
    "multipart/form-data; boundary*=utf-8''zz",
    "multipart/form-data; boundary=aa; boundary*=utf-8''zz",
    "multipart/form-data; boundary*=utf-8''zz; boundary=aa",
    "multipart/form-data; boundary*0=z; boundary*1=z",
    "multipart/form-data; boundary=aa; boundary=zz",
    "multipart/form-data; BOUNDARY=aa; boundary=zz",
    'multipart/form-data; boundary="a\\"b"',
    'multipart/form-data; boundary="a\\b"',
    "multipart/form-data; boundary = zz",
    'multipart/form-data; boundary="zz',
    "multipart/form-data; boundary=zz (comment)",
    "multipart/form-data; boundary=z z",
    "multipart/form-data; boundary=a(b)",
    'multipart/form-data; boundary="=?utf-8?q?zz?="',
    "multipart/form-data; boundary==?utf-8?q?zz?=",
    "multipart/form-data; boundary=abc, multipart/form-data; boundary=x",  # two fields, joined
    "multipart/form-data; boundary=",
    'multipart/form-data; boundary=""',
    'multipart/form-data; boundary="ends with space "',
    "multipart/form-data; boundary=" + "x" * 71,
    "multipart/form-data; boundary=caf\xe9",
    "multipart/form-data boundary=zz",
    "multipart/form-data;; boundary=zz",
]


@pytest.mark.parametrize("header", HOSTILE)
def test_a_header_parsers_could_read_differently_is_400(header):
    with pytest.raises(ClipvecError) as caught:
        boundary(header.encode("latin-1"))
    assert (caught.value.status, caught.value.code) == (400, "invalid_multipart")


@pytest.mark.parametrize(
    "header",
    [
        *HOSTILE,
        "multipart/form-data; boundary=zz",
        'multipart/form-data; foo="x; boundary=aa"; boundary=zz',
        "multipart/form-data; charset=utf-8; Boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
        'multipart/form-data; boundary="(:)=?,+_./ \'"',
    ],
)
def test_an_accepted_boundary_is_what_every_parser_reads(header):
    """Whatever the guard accepts, the standard library's parser (which the service uses) and
    python-multipart (Starlette's) read the very same boundary from the client's header."""
    try:
        ours = boundary(header.encode("latin-1"))
    except ClipvecError:
        return
    assert ours.decode() == email_boundary(header)
    assert ours == parse_options_header(header)[1][b"boundary"]


def test_the_body_is_split_at_the_guards_boundary_not_at_one_in_the_clients_header():
    """The service parses with the boundary handed on, never with another the header hides."""
    header = b'multipart/form-data; foo="x; boundary=aa"; boundary=zz'
    body = b"".join(
        b"--zz\r\nContent-Disposition: form-data; name=f; filename=%d.jpg\r\n\r\n--aa\r\n\r\n" % i
        for i in range(3)
    )
    files = parse_multipart(body + b"--zz--\r\n", boundary(header))
    assert [name for name, _ in files] == ["0.jpg", "1.jpg", "2.jpg"]


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
        parse_multipart(file_part("a.jpg", b"x"), b"")


@pytest.mark.parametrize("body", [b"", b"no parts at all", b"--XyZ--\r\n"])
def test_no_files_is_400(body):
    with pytest.raises(EmptyInput):
        parse_multipart(body, CT)
