"""The guard's limits, from the ``CLIPVEC_*`` settings the service passes to it."""

from __future__ import annotations

from dataclasses import dataclass, field

from clipvec.serving.guard.hosts import HostPolicy


@dataclass
class GuardConfig:
    max_body_bytes: int = 50 * 1024 * 1024  # CLIPVEC_MAX_BODY_BYTES: 413 past it
    max_batch_items: int = 256  # CLIPVEC_MAX_BATCH_ITEMS: list items or multipart parts
    api_key: str = ""  # CLIPVEC_API_KEY: "" lets everyone in
    allowed_origins: frozenset[str] = field(default_factory=frozenset)  # normalised by access.origin_key
    idle_timeout: float = 15.0  # CLIPVEC_BODY_IDLE_TIMEOUT: 408 when the body stalls this long
    min_rate: int = 4096  # CLIPVEC_BODY_MIN_RATE: bytes/s the body must keep up after idle_timeout
    max_concurrency: int = 128  # CLIPVEC_MAX_CONCURRENCY: 429 past it
    hosts: HostPolicy = field(default_factory=HostPolicy)  # CLIPVEC_ALLOWED_HOSTS (+ loopback, own): 421
