"""Who may use the service: the optional API key (header or the page's cookie) and web origins."""

from __future__ import annotations

import hmac
from urllib.parse import unquote, urlsplit

from clipvec.serving.guard.asgi import Scope, header
from clipvec.serving.guard.errors import Forbidden, Unauthorized
from clipvec.serving.guard.hosts import HostPolicy, canonical, split_host
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


def check_origin(scope: Scope, allowed: frozenset[str], hosts: HostPolicy) -> None:
    """403 for a browser write from a web origin that is neither the service's own nor allowed.

    Not compared with ``Host`` alone: a DNS-rebinding page has ``Origin`` and ``Host`` alike.
    """
    origin = header(scope, b"origin").decode("latin-1").strip()
    if not origin:
        return  # not a browser (curl, SDKs): nothing cross-site about it
    key = origin_key(origin)
    if key is not None and (key in allowed or is_own_origin(key, scope, hosts)):
        return
    raise Forbidden(
        f"requests from the web origin {origin[:100]!r} may not use this service "
        "(allow it with CLIPVEC_ALLOWED_ORIGINS)"
    )


def is_own_origin(key: str, scope: Scope, hosts: HostPolicy) -> bool:
    """Whether the origin ``key`` (see :func:`origin_key`) is a page of this service.

    Its host must be one the service answers to (:mod:`.hosts`; with ``*``, the request's own
    Host, which a proxy vouched for), and its port the one the browser reached (``Host``'s),
    so a page on another port of the same machine is another origin. The scheme is not
    compared: behind a TLS proxy the page is https and the service sees http.
    """
    parts = urlsplit(key)
    request_host = split_host(header(scope, b"host").decode("latin-1"))
    if not parts.hostname or request_host is None:
        return False
    default = 80 if parts.scheme == "http" else 443
    if (parts.port or default) != (request_host[1] or default):
        return False
    host = canonical(parts.hostname)
    return hosts.names_service(host, scope) or (hosts.any_host and host == request_host[0])


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
