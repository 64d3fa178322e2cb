"""Who may use the service: the optional API key (header or the page's cookie) and web origins."""

from __future__ import annotations

import hmac
from urllib.parse import unquote, urlsplit

from clipvec.serving.guard.asgi import Scope, header
from clipvec.serving.guard.errors import Forbidden, Unauthorized
from clipvec.serving.routes import COOKIE_PATHS, KEY_COOKIE, is_public

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def check_key(scope: Scope, path: str, method: str, key: str) -> None:
    """401 unless ``key`` is empty, the path is public, or the request carries the key.

    ``Authorization: Bearer <key>`` everywhere; the page's image routes (an ``<img>`` cannot
    send headers) also take the ``clipvec_key`` cookie, for safe methods only.
    """
    if not key or is_public(path):
        return
    given = bearer(header(scope, b"authorization").decode("latin-1"))
    if given is None and path in COOKIE_PATHS and method in SAFE_METHODS:
        given = cookie(header(scope, b"cookie").decode("latin-1"), KEY_COOKIE)
    if given is None or not hmac.compare_digest(given.encode(), key.encode()):
        raise Unauthorized(
            "this service needs an API key: send 'Authorization: Bearer <key>' "
            "(the key is CLIPVEC_API_KEY on the server)"
        )


def check_origin(scope: Scope, allowed: frozenset[str]) -> None:
    """403 for a browser write from a web origin that is neither the service's own nor allowed."""
    origin = header(scope, b"origin").decode("latin-1").strip()
    if not origin:
        return  # not a browser (curl, SDKs): nothing cross-site about it
    key = origin_key(origin)
    own = host_key(header(scope, b"host").decode("latin-1"), scope.get("scheme", "http"))
    if key is not None and (key == own or key in allowed):
        return
    raise Forbidden(
        f"requests from the web origin {origin[:100]!r} may not use this service "
        "(allow it with CLIPVEC_ALLOWED_ORIGINS)"
    )


def parse_origins(allowed_origins: str) -> frozenset[str]:
    """CLIPVEC_ALLOWED_ORIGINS (comma-separated) as normalised origins; unusable entries dropped."""
    origins = {origin_key(o) for o in allowed_origins.split(",") if o.strip()}
    return frozenset(o for o in origins if o)


def bearer(value: str) -> str | None:
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def cookie(header_value: str, name: str) -> str | None:
    for part in header_value.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return unquote(value)
    return None


def origin_key(origin: str) -> str | None:
    """'HTTP://Example.com:80' -> 'http://example.com'; None for 'null' and non-HTTP origins."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = 80 if parts.scheme == "http" else 443
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def host_key(host: str, scheme: str) -> str | None:
    """The service's own origin as the browser sees it, from the Host header."""
    if not host:
        return None
    return origin_key(f"{scheme}://{host}")
