"""Which names the service answers to: the ``Host`` allow-list against DNS rebinding.

A page on a rebinding domain (``evil.example`` resolving first to the attacker, then to
127.0.0.1) is same-origin with the service in the browser's eyes: its requests carry
``Host: evil.example`` and ``Origin: http://evil.example``, so comparing the two proves
nothing. A request is answered only when its ``Host`` (port ignored) names this service:

* loopback: ``localhost``, ``*.localhost`` (RFC 6761: they never leave the machine),
  127.0.0.0/8 and ``::1``;
* the address the connection arrived on (ASGI ``scope["server"]``): the address the service
  was bound to (``--host``), or, bound to 0.0.0.0 / ``::``, whichever of the machine's
  addresses the client reached (a Kubernetes pod IP, a LAN address). An address cannot be
  rebound, only a name can;
* the machine's own name (``socket.gethostname()``, and its first label);
* ``CLIPVEC_ALLOWED_HOSTS``: more names or addresses (``clip.example.com``, ``*.example.com``
  for every subdomain), e.g. the name a reverse proxy forwards; ``*`` lets any Host through,
  for a proxy that checks Host itself.

Anything else is 421 Misdirected Request. A request without ``Host`` (HTTP/1.0) is let
through: browsers always send it. Health and metrics (``/livez``, ``/readyz``, ``/healthz``,
``/metrics``) are exempt: they show no data, and orchestrators and load balancers send
whatever Host they like (Kubernetes: the pod IP).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from dataclasses import dataclass, field

from clipvec.serving.guard.asgi import Scope, header
from clipvec.serving.guard.errors import MisdirectedRequest
from clipvec.serving.routes import HEALTH_PATHS

log = logging.getLogger("clipvec.http")

LOOPBACK_NAME = "localhost"
LOOPBACK_SUFFIX = ".localhost"
_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")


@dataclass(frozen=True)
class HostPolicy:
    """The names and addresses (canonical, see :func:`canonical`) the service answers to."""

    names: frozenset[str] = field(default_factory=frozenset)  # exact names and addresses
    suffixes: tuple[str, ...] = ()  # ".example.com" from "*.example.com"
    any_host: bool = False  # "*": a proxy in front checks Host

    def names_service(self, host: str, scope: Scope) -> bool:
        """Whether the canonical ``host`` is this service's, "*" aside (the Origin check needs that)."""
        if host == LOOPBACK_NAME or host.endswith(LOOPBACK_SUFFIX) or host in self.names:
            return True
        if host.endswith(self.suffixes):
            return True
        address = _address(host)
        if address is not None and address.is_loopback:
            return True
        server = scope.get("server")
        return bool(server) and host == canonical(str(server[0]))

    def allows(self, host: str, scope: Scope) -> bool:
        return self.any_host or self.names_service(host, scope)


def parse_hosts(allowed_hosts: str, machine: str | None = None) -> HostPolicy:
    """CLIPVEC_ALLOWED_HOSTS (comma-separated) plus the machine's name; unusable entries are logged."""
    names: set[str] = set()
    suffixes: list[str] = []
    any_host = False
    machine = socket.gethostname() if machine is None else machine
    for name in (machine, machine.partition(".")[0]):
        parsed = split_host(name)
        if parsed is not None:
            names.add(parsed[0])
    for entry in (e.strip() for e in allowed_hosts.split(",")):
        if entry == "*":
            any_host = True
            continue
        text = entry.partition("://")[2] if "://" in entry else entry  # a pasted URL: its host
        text = text.partition("/")[0]
        wildcard = text.startswith("*.")
        parsed = split_host(text[2:] if wildcard else text)
        if parsed is None:
            if entry:
                log.warning("CLIPVEC_ALLOWED_HOSTS: %r is not a host name or address; ignored", entry[:100])
        elif wildcard:
            suffixes.append("." + parsed[0])
        else:
            names.add(parsed[0])
    return HostPolicy(frozenset(names), tuple(suffixes), any_host)


def check_host(scope: Scope, path: str, policy: HostPolicy) -> None:
    """421 unless the request's ``Host`` names this service (health and metrics are exempt)."""
    if path in HEALTH_PATHS:
        return
    value = header(scope, b"host").decode("latin-1")
    if not value.strip():
        return  # HTTP/1.0 without Host: not a browser
    parsed = split_host(value)
    if parsed is not None and policy.allows(parsed[0], scope):
        return
    raise MisdirectedRequest(
        f"this service does not answer to the host {value.strip()[:100]!r}: use localhost, its address "
        "or its name, or allow the name with CLIPVEC_ALLOWED_HOSTS (e.g. behind a reverse proxy)"
    )


def split_host(value: str) -> tuple[str, int | None] | None:
    """``Host`` (``name``, ``name:port``, ``[v6]:port``) -> (canonical host, port); None if malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        host, closed, rest = value[1:].partition("]")
        if not closed or _address(host) is None or (rest and not rest.startswith(":")):
            return None
        port = rest[1:]
    else:
        host, _, port = value.partition(":")
        if not _NAME.fullmatch(host.rstrip(".")):
            return None
    if port and not (port.isascii() and port.isdigit() and int(port) <= 65535):
        return None
    return canonical(host), int(port) if port else None


def canonical(host: str) -> str:
    """Lower case, no trailing dot or brackets; addresses in their standard form (IPv4-mapped unwrapped)."""
    host = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    address = _address(host)
    return host if address is None else str(address)


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d
    return address
