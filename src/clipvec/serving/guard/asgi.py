"""The ASGI types the guard works with, and reading request headers from a scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def header(scope: Scope, name: bytes) -> bytes:
    """The first value of header ``name`` (lower case), or ``b""``."""
    for key, value in scope.get("headers", []):
        if key == name:
            return value
    return b""


def header_list(scope: Scope, name: bytes) -> bytes:
    """Every value of header ``name`` joined by ``", "`` (RFC 9110's combined field value)."""
    return b", ".join(value for key, value in scope.get("headers", []) if key == name)


def media_type(scope: Scope) -> str:
    """The request's media type without parameters, lower case ("" when there is none)."""
    return header(scope, b"content-type").decode("latin-1").split(";")[0].strip().lower()
