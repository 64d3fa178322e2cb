"""Reading request headers from an ASGI scope."""

from __future__ import annotations

from clipvec.serving.guard.asgi import header, media_type


def scope(*headers: tuple[bytes, bytes]) -> dict:
    return {"headers": list(headers)}


def test_header_is_the_first_value_or_empty():
    s = scope((b"x-a", b"1"), (b"x-a", b"2"))
    assert header(s, b"x-a") == b"1"
    assert header(s, b"x-b") == b""
    assert header({}, b"x-a") == b""


def test_media_type_drops_parameters_and_case():
    assert media_type(scope((b"content-type", b" Multipart/Form-Data ; boundary=X"))) == "multipart/form-data"
    assert media_type(scope()) == ""
