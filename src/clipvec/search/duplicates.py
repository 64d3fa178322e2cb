"""Near-duplicates: groups of stored images whose vectors are at least ``threshold`` alike.

Exact copies (the same bytes) are already one record with several paths; this finds the
resized, re-encoded, cropped and burst shots. The threshold is always a cosine
similarity of the stored vectors, normalised here, whatever the collection's metric: for
COSINE it is the metric itself, for IP and L2 on CLIP's unit vectors it is the same order
(IP = cosine, L2² = 2 - 2·cosine), so one threshold means the same on every collection.

Every vector is read once (``ImageStore.iter_records``), then compared block by block
(:data:`BLOCK` rows against :data:`BLOCK` columns, the upper triangle only): memory stays
at the vectors plus one block² of similarities, never an n x n matrix. Pairs above the
threshold are merged with a vectorised union-find, so groups are transitive-closed (a~b
and b~c put a, b and c in one group even when a and c are further apart) and a library
where thousands of shots are alike costs rounds of array operations, not a Python loop
per pair. Nothing is deleted: the groups are for a person to choose from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np

from clipvec.search.options import NUMBER, bad_parameter, checked_path_prefix
from clipvec.store import ImageRecord

DEFAULT_THRESHOLD = 0.95
BLOCK = 2048  # rows (and columns) per matrix product: 16 MiB of float32 similarities
LIMIT_MAX = 1000  # groups in one HTTP answer at most (the CLI prints them all unless told)
MEMBERS_SHOWN = 200  # images listed per group in an HTTP answer (its count says how many there are)
_DIGITS = re.compile(r"[0-9]{1,7}")


def checked_threshold(threshold: float) -> float:
    """``threshold`` if it is a cosine in (0, 1]; ``bad_parameter`` otherwise (400 / exit 2)."""
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and 0 < threshold <= 1):
        raise bad_parameter("threshold must be a cosine similarity above 0 and at most 1, e.g. 0.95")
    return float(threshold)


@dataclass(frozen=True)
class DuplicateOptions:
    """The options of a duplicates run, checked once for the CLI flags and the query string."""

    threshold: float = DEFAULT_THRESHOLD
    path_prefix: str | None = None
    limit: int | None = None  # groups shown (the biggest); None: all

    @classmethod
    def checked(
        cls, threshold: float = DEFAULT_THRESHOLD, path_prefix: str | None = None, limit: int | None = None
    ) -> DuplicateOptions:
        if limit is not None and not 1 <= limit <= 10_000_000:
            raise bad_parameter("limit must be a number of groups, at least 1")
        return cls(checked_threshold(threshold), checked_path_prefix(path_prefix), limit)

    @classmethod
    def from_query(cls, params: Mapping[str, str], default_limit: int) -> DuplicateOptions:
        """From ``threshold=0.95&path_prefix=a/&limit=50`` (limit 1 to :data:`LIMIT_MAX`)."""
        raw = params.get("threshold")
        if raw is not None and not NUMBER.fullmatch(raw):
            raise bad_parameter("threshold must be a number, e.g. threshold=0.95")
        raw_limit = params.get("limit")
        if raw_limit is not None and not (_DIGITS.fullmatch(raw_limit) and 1 <= int(raw_limit) <= LIMIT_MAX):
            raise bad_parameter(f"limit must be plain digits, 1 to {LIMIT_MAX}, e.g. limit=50")
        limit = default_limit if raw_limit is None else int(raw_limit)
        threshold = DEFAULT_THRESHOLD if raw is None else float(raw)
        return cls.checked(threshold, params.get("path_prefix"), limit)


@dataclass(frozen=True)
class DuplicateGroup:
    """Records that are near-duplicates of each other; the biggest picture first."""

    records: tuple[ImageRecord, ...]

    def as_json(self, paths_shown: int = 5, members_shown: int | None = None) -> dict[str, Any]:
        """``count`` is the group's size; ``images`` its first ``members_shown`` (all for None)."""
        shown = self.records if members_shown is None else self.records[:members_shown]
        return {"count": len(self.records), "images": [member_json(r, paths_shown) for r in shown]}


def member_json(record: ImageRecord, paths_shown: int = 5) -> dict[str, Any]:
    """What a person needs to pick the copy to keep: its paths, size, dimensions and date."""
    return {
        "content_hash": record.content_hash,
        "path": record.path,
        "paths": record.paths[:paths_shown],
        "path_count": len(record.paths),
        "size": record.size,
        "width": record.width,
        "height": record.height,
        "format": record.format,
        "mtime": iso_date(record.mtime),
    }


def iso_date(mtime: float) -> str | None:
    """The file's modification time in ISO 8601 (UTC), or None when it is unknown."""
    if not math.isfinite(mtime) or mtime <= 0:
        return None
    try:
        return datetime.fromtimestamp(mtime, tz=timezone.utc).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return None


@dataclass(frozen=True)
class Duplicates:
    """The groups found, biggest first, and how many images were compared."""

    groups: list[DuplicateGroup]
    compared: int

    def as_json(
        self, options: DuplicateOptions, paths_shown: int = 5, members_shown: int | None = MEMBERS_SHOWN
    ) -> dict[str, Any]:
        """The answer of ``GET /duplicates`` and ``clipvec duplicates --json``: the biggest groups
        (an HTTP answer stays bounded: ``limit`` groups of at most ``members_shown`` images)."""
        shown = self.groups if options.limit is None else self.groups[: options.limit]
        return {
            "threshold": options.threshold,
            "path_prefix": options.path_prefix,
            "images": self.compared,
            "group_count": len(self.groups),
            "groups": [group.as_json(paths_shown, members_shown) for group in shown],
        }


def find_duplicates(
    records: Iterable[ImageRecord],
    threshold: float = DEFAULT_THRESHOLD,
    *,
    path_prefix: str | None = None,
    block: int = BLOCK,
) -> Duplicates:
    """The groups of two or more records at least ``threshold`` alike, biggest group first.

    ``records`` must carry their vectors (``iter_records(with_vectors=True)``); records
    whose primary path does not start with ``path_prefix`` (as in search) are left out,
    and so are records without a usable vector (none, zero or not finite).
    """
    threshold = checked_threshold(threshold)
    prefix = checked_path_prefix(path_prefix)
    kept: list[ImageRecord] = []
    rows: list[np.ndarray] = []
    for record in records:
        if prefix is not None and not record.path.startswith(prefix):
            continue
        if record.vector is None:
            continue
        vector = np.asarray(record.vector, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(vector))
        if not math.isfinite(norm) or norm == 0.0 or (rows and vector.shape != rows[0].shape):
            continue
        kept.append(replace(record, vector=None))  # the vector lives on only in ``rows``
        rows.append(vector / norm)
    if len(kept) < 2:
        return Duplicates([], len(kept))
    matrix = np.stack(rows)
    del rows
    labels = component_labels(matrix, threshold, block=block)
    return Duplicates(_groups(kept, labels), len(kept))


def component_labels(vectors: np.ndarray, threshold: float, *, block: int = BLOCK) -> np.ndarray:
    """For unit row vectors, each row's group label (its smallest row index in the group)."""
    n = len(vectors)
    parent = np.arange(n, dtype=np.int64)
    step = max(1, int(block))
    for top in range(0, n, step):
        rows = vectors[top : top + step]
        for left in range(top, n, step):
            sims = rows @ vectors[left : left + step].T
            close = sims >= threshold
            if left == top:  # the diagonal block: each pair once, never a row with itself
                close = np.triu(close, k=1)
            i, j = np.nonzero(close)
            if len(i):
                parent = _union(parent, i + top, j + left)
    return _flatten(parent)


def _flatten(parent: np.ndarray) -> np.ndarray:
    """Point every row straight at its root (roots are fixed points)."""
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            return parent
        parent = grand


def _union(parent: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Merge the groups of each pair (a[k], b[k]), in rounds of array operations.

    Each round hooks the larger root of every still-separate pair under the smaller one;
    a root only ever points to a smaller index, so no cycle can form, and every round joins
    at least one pair, so the loop ends.
    """
    while True:
        parent = _flatten(parent)
        ra, rb = parent[a], parent[b]
        apart = ra != rb
        if not apart.any():
            return parent
        ra, rb = ra[apart], rb[apart]
        a, b = a[apart], b[apart]
        parent[np.maximum(ra, rb)] = np.minimum(ra, rb)


def _groups(records: list[ImageRecord], labels: np.ndarray) -> list[DuplicateGroup]:
    members: dict[int, list[ImageRecord]] = {}
    for index, label in enumerate(labels.tolist()):
        members.setdefault(label, []).append(records[index])
    groups = [
        DuplicateGroup(tuple(sorted(found, key=_keep_first))) for found in members.values() if len(found) > 1
    ]
    groups.sort(key=lambda g: (-len(g.records), g.records[0].path))
    return groups


def _keep_first(record: ImageRecord) -> tuple[int, int, str]:
    """The likeliest keeper first: most pixels, then the biggest file, then by path."""
    return (-record.width * record.height, -record.size, record.path)
