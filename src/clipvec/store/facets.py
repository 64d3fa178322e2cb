"""What a collection holds, summed up: cameras, lenses, formats and dates, with counts.

Milvus 2.3 has no group-by, so the summary reads the few scalar columns it needs (never the
vectors, never the ``paths`` ARRAY that Lite reads slowly) with a query iterator and counts
here. It is kept per store and read again when the record count changes or it is older than
:data:`MAX_AGE` (another process may have rewritten records without changing the count).

The camera and lens filters use its distinct keys (``meta_filter.key_term``). For them a
stale list is not good enough, so :meth:`Summary.keys` first counts the stored keys it does
not know (one ``count(*)`` with ``not in``) and reads the summary again if there is one.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from clipvec.images.photo_meta import PhotoMeta
from clipvec.store.filters import has_control, literal
from clipvec.store.records import TAKEN_UNKNOWN

MAX_AGE = 60.0  # seconds a summary is reused while the count stays the same
KEY_FIELDS = ("camera_key", "lens_key")
_V2_FIELDS = ["camera_make", "camera_model", "lens", "camera_key", "lens_key", "format", "taken"]


@dataclass(frozen=True)
class FacetCount:
    value: str  # as people read it ("Canon EOS R5"); as a filter it matches its own key
    count: int


@dataclass(frozen=True)
class Facets:
    """Counts by camera (make and model), lens and format, most first; the known dates' range."""

    total: int
    cameras: tuple[FacetCount, ...] = ()
    lenses: tuple[FacetCount, ...] = ()
    formats: tuple[FacetCount, ...] = ()
    taken_first: int | None = None  # seconds, as stored (see PhotoMeta.taken)
    taken_last: int | None = None
    taken_known: int = 0
    has_meta: bool = True  # False: a version-1 collection (no metadata columns yet)
    keys: Mapping[str, frozenset[str]] = field(default_factory=dict, repr=False)

    @property
    def camera_unknown(self) -> int:
        return self.total - sum(c.count for c in self.cameras)

    @property
    def lens_unknown(self) -> int:
        return self.total - sum(c.count for c in self.lenses)


def summarise(rows: Iterable[Mapping[str, Any]], *, has_meta: bool) -> Facets:
    """The facets of ``rows`` (dicts with the scanned columns)."""
    total = 0
    formats: Counter[str] = Counter()
    cameras: dict[str, Counter[str]] = {}  # key -> spellings as people read them
    lenses: dict[str, Counter[str]] = {}
    first = last = None
    known = 0
    for row in rows:
        total += 1
        formats[str(row.get("format") or "")] += 1
        if not has_meta:
            continue
        key = str(row.get("camera_key") or "")
        if key:
            shown = PhotoMeta(
                camera_make=str(row.get("camera_make") or ""), camera_model=str(row.get("camera_model") or "")
            )
            cameras.setdefault(key, Counter())[shown.camera] += 1
        key = str(row.get("lens_key") or "")
        if key:
            lenses.setdefault(key, Counter())[str(row.get("lens") or "")] += 1
        taken = row.get("taken")
        if taken is not None and int(taken) != TAKEN_UNKNOWN:
            taken = int(taken)
            known += 1
            first = taken if first is None else min(first, taken)
            last = taken if last is None else max(last, taken)
    return Facets(
        total=total,
        cameras=_by_count(cameras),
        lenses=_by_count(lenses),
        formats=tuple(FacetCount(v, n) for v, n in sorted(formats.items(), key=lambda kv: (-kv[1], kv[0]))),
        taken_first=first,
        taken_last=last,
        taken_known=known,
        has_meta=has_meta,
        keys={"camera_key": frozenset(cameras), "lens_key": frozenset(lenses)},
    )


def _by_count(groups: dict[str, Counter[str]]) -> tuple[FacetCount, ...]:
    """One entry per key, named by its most common spelling, the biggest first."""
    entries = [
        FacetCount(spellings.most_common(1)[0][0], sum(spellings.values())) for spellings in groups.values()
    ]
    return tuple(sorted(entries, key=lambda e: (-e.count, e.value.casefold(), e.value)))


def unknown_keys_filter(field_name: str, known: Iterable[str]) -> str:
    """Rows with a ``field`` key that is not in ``known`` (none: ``known`` is complete)."""
    listed = sorted(k for k in known if k and not has_control(k))
    if not listed:
        return f'{field_name} != ""'
    return f'{field_name} != "" and {field_name} not in [' + ", ".join(literal(k) for k in listed) + "]"


class Summary:
    """The facets of one collection, read when needed and kept while they are current."""

    def __init__(
        self,
        scan: Callable[[list[str]], Iterator[Mapping[str, Any]]],
        count: Callable[[str], int],
        *,
        has_meta: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._scan = scan  # Reader.scan: every row's given columns
        self._count = count  # Reader.count: rows matching an expression
        self._has_meta = has_meta
        self._clock = clock
        self._lock = threading.Lock()  # one read at a time; the others wait for its answer
        self._facets: Facets | None = None
        self._read_at = 0.0

    def facets(self) -> Facets:
        """The summary, read again if the count changed or it is older than MAX_AGE."""
        with self._lock:
            cached = self._facets
            if (
                cached is not None
                and self._clock() - self._read_at < MAX_AGE
                and self._count('content_hash != ""') == cached.total
            ):
                return cached
            return self._read()

    def keys(self, field_name: str) -> frozenset[str]:
        """Every distinct stored ``field_name`` (``camera_key`` / ``lens_key``), none missing."""
        with self._lock:
            cached = self._facets
            if cached is None or self._count(unknown_keys_filter(field_name, cached.keys[field_name])) > 0:
                cached = self._read()
            return cached.keys[field_name]

    def forget(self) -> None:
        """The next answer is read again (after this process changed records)."""
        with self._lock:
            self._facets = None

    def _read(self) -> Facets:
        fields = _V2_FIELDS if self._has_meta else ["format"]
        self._facets = summarise(self._scan(fields), has_meta=self._has_meta)
        self._read_at = self._clock()
        return self._facets
