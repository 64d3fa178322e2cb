"""The options of a search, checked once for every caller (HTTP query string and CLI flags).

``top_k`` is 1 to 1000, ``min_score`` a finite number, ``path_prefix`` at most 1024
characters without control characters, ``exclude`` a content hash (64 lowercase hex digits,
as a hit gives it: "more like this" leaves out its own example). A bad value is a ``bad_parameter`` error: 400 over
HTTP, a one-line message and exit 2 on the command line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clipvec.errors import ClipvecError
from clipvec.settings import TOP_K_MAX

PATH_PREFIX_MAX = 1024
_DIGITS = re.compile(r"[0-9]{1,7}")
_CONTENT_HASH = re.compile(r"[0-9a-f]{64}")
NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?")


def bad_parameter(detail: str) -> ClipvecError:
    return ClipvecError(detail, code="bad_parameter")


@dataclass(frozen=True)
class SearchOptions:
    top_k: int
    min_score: float | None = None
    path_prefix: str | None = None
    exclude: str | None = None

    @classmethod
    def checked(
        cls,
        top_k: int,
        min_score: float | None = None,
        path_prefix: str | None = None,
        exclude: str | None = None,
    ) -> SearchOptions:
        """The options if every one is in range; ``bad_parameter`` names the first that is not."""
        return cls(_top_k(top_k), _min_score(min_score), checked_path_prefix(path_prefix), _exclude(exclude))

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
            top_k, min_score, checked_path_prefix(params.get("path_prefix")), _exclude(params.get("exclude"))
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
