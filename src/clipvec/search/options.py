"""The options of a search, checked once for every caller (HTTP query string and CLI flags).

``top_k`` is 1 to 1000, ``min_score`` a finite number, ``path_prefix`` at most 1024
characters without control characters, ``exclude`` a content hash (64 lowercase hex digits,
as a hit gives it: "more like this" leaves out its own example), ``sort`` ``score`` or
``taken``, and the photo filters (:class:`SearchFilters`, :mod:`.filter_params`). A bad value
is a ``bad_parameter`` error: 400 over HTTP, a one-line message and exit 2 on the command line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clipvec.search.filter_params import (
    NUMBER,
    bad_parameter,
    near_text,
    parse_dimension,
    parse_formats,
    parse_name,
    parse_near,
    parse_orientation,
    parse_sort,
    parse_when,
    when_text,
)
from clipvec.settings import TOP_K_MAX
from clipvec.store.meta_filter import MetaFilter

PATH_PREFIX_MAX = 1024
_DIGITS = re.compile(r"[0-9]{1,7}")
_CONTENT_HASH = re.compile(r"[0-9a-f]{64}")
__all__ = ["NUMBER", "TOP_K_MAX", "SearchFilters", "SearchOptions", "bad_parameter", "checked_path_prefix"]


@dataclass(frozen=True)
class SearchFilters(MetaFilter):
    """The store's photo filter (``MetaFilter``), read from the text of a query string or flags."""

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> SearchFilters:
        """From text values (``taken_after=2024-05-01&camera=canon&near=48.85,2.35,10``); an
        empty value sets nothing. ``bad_parameter`` names the first malformed one."""

        def given(name: str) -> str | None:
            value = params.get(name)
            return value if value is not None and value.strip() else None

        after, before = given("taken_after"), given("taken_before")
        filters = cls(
            taken_after=None if after is None else parse_when("taken_after", after),
            taken_before=None if before is None else parse_when("taken_before", before),
            camera=parse_name("camera", given("camera") or ""),
            lens=parse_name("lens", given("lens") or ""),
            near=None if (near := given("near")) is None else parse_near(near),
            orientation="" if (shape := given("orientation")) is None else parse_orientation(shape),
            min_width=0 if (width := given("min_width")) is None else parse_dimension("min_width", width),
            min_height=0
            if (height := given("min_height")) is None
            else parse_dimension("min_height", height),
            formats=() if (formats := given("format")) is None else parse_formats(formats),
        )
        # taken_after >= taken_before is an empty range, not an error: it finds nothing, as a
        # camera no photo has does (and /docs.json cannot say "earlier than the other one").
        return filters

    def as_query(self) -> dict[str, str]:
        """The text form ``from_query`` reads back to this same value (for a remote search)."""
        query = {
            "taken_after": None if self.taken_after is None else when_text(self.taken_after),
            "taken_before": None if self.taken_before is None else when_text(self.taken_before),
            "camera": self.camera,
            "lens": self.lens,
            "near": None if self.near is None else near_text(self.near),
            "orientation": self.orientation,
            "min_width": str(self.min_width) if self.min_width else None,
            "min_height": str(self.min_height) if self.min_height else None,
            "format": ",".join(self.formats),
        }
        return {name: value for name, value in query.items() if value}


NO_FILTERS = SearchFilters()


@dataclass(frozen=True)
class SearchOptions:
    top_k: int
    min_score: float | None = None
    path_prefix: str | None = None
    exclude: str | None = None
    filters: SearchFilters = NO_FILTERS
    sort: str = "score"  # or "taken": the same hits in time order, unknown dates last

    @classmethod
    def checked(
        cls,
        top_k: int,
        min_score: float | None = None,
        path_prefix: str | None = None,
        exclude: str | None = None,
        *,
        filters: SearchFilters = NO_FILTERS,
        sort: str | None = None,
    ) -> SearchOptions:
        """The options if every one is in range; ``bad_parameter`` names the first that is not."""
        return cls(
            _top_k(top_k),
            _min_score(min_score),
            checked_path_prefix(path_prefix),
            _exclude(exclude),
            filters,
            parse_sort(sort),
        )

    @classmethod
    def from_query(cls, params: Mapping[str, str], default_top_k: int) -> SearchOptions:
        """From a query string's text values (``top_k=5&min_score=0.2&path_prefix=a/``)."""
        raw_top_k = params.get("top_k")
        if raw_top_k is None:
            top_k = _top_k(default_top_k)
        elif _DIGITS.fullmatch(raw_top_k):  # not int(): it takes " 5", "+5", "5_0" and other scripts' digits
            top_k = _top_k(int(raw_top_k))
        else:
            raise bad_parameter("top_k must be plain digits, e.g. top_k=10")
        raw_min = params.get("min_score")
        if raw_min is not None and not NUMBER.fullmatch(raw_min):
            raise bad_parameter(_MIN_SCORE)
        min_score = _min_score(None if raw_min is None else float(raw_min))
        return cls(
            top_k,
            min_score,
            checked_path_prefix(params.get("path_prefix")),
            _exclude(params.get("exclude")),
            SearchFilters.from_query(params),
            parse_sort(params.get("sort")),
        )

    def as_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``ImageStore.search``."""
        kwargs: dict[str, Any] = {
            "top_k": self.top_k,
            "min_score": self.min_score,
            "path_prefix": self.path_prefix,
        }
        if self.exclude is not None:
            kwargs["exclude"] = self.exclude
        if self.filters:
            kwargs["filters"] = self.filters
        return kwargs


_MIN_SCORE = "min_score must be a finite number, e.g. min_score=0.25"


def _top_k(top_k: int) -> int:
    if not 1 <= top_k <= TOP_K_MAX:
        raise bad_parameter(f"top_k must be between 1 and {TOP_K_MAX}")
    return top_k


def _min_score(min_score: float | None) -> float | None:
    if min_score is not None and not math.isfinite(min_score):
        raise bad_parameter(_MIN_SCORE)
    return min_score


def checked_path_prefix(prefix: str | None) -> str | None:
    """An empty prefix is no prefix."""
    if prefix and (len(prefix) > PATH_PREFIX_MAX or any(ord(ch) < 32 or ord(ch) == 127 for ch in prefix)):
        raise bad_parameter(
            f"path_prefix must be a path of at most {PATH_PREFIX_MAX} characters, without control characters"
        )
    return prefix or None


def _exclude(content_hash: str | None) -> str | None:
    """An empty value excludes nothing; anything else must be a whole content hash."""
    if content_hash and not _CONTENT_HASH.fullmatch(content_hash):
        raise bad_parameter("exclude must be a content_hash from a hit (64 lowercase hex digits)")
    return content_hash or None
