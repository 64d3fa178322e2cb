"""The nearest records to a vector, optionally under a path prefix, a photo filter and above a score.

Everything is one Milvus filter expression applied inside the vector search, so the hits
are the true top-k among the matching records. What no portable expression can say exactly
(a path prefix with a control character, the exact distance of ``near``) is narrowed by the
expression and checked here; then Milvus is asked for more hits until ``top_k`` pass or
there are no more.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np

from clipvec.errors import ClipvecError
from clipvec.store.connection import Connection
from clipvec.store.consistency import ReadConsistency
from clipvec.store.filters import first_control, has_control, literal, prefix_filter
from clipvec.store.meta_filter import MetaFilter, all_of, compile_filter
from clipvec.store.records import MAX_TOP_K, Hit, has_meta, higher_is_better, hit_fields, parse_hit
from clipvec.store.schema import SCHEMA_VERSION, search_params


def needs_migration(terms: list[str], collection: str) -> ClipvecError:
    """A photo filter on a collection stored before photo metadata was (schema version 1)."""
    return ClipvecError(
        f"the collection {collection!r} has no photo metadata yet, so it cannot filter by "
        f"{', '.join(terms)}; run `clipvec migrate` to add it (the stored vectors are kept)",
        code="bad_parameter",
    )


def prefix_plan(path_prefix: str | None) -> tuple[str, str | None]:
    """The filter for ``path_prefix``, and the prefix to check on the client (None: the filter is exact).

    The filter is a range (``filters.prefix_filter``), exact for any characters but two cases.
    """
    expr, exact_prefix = "", None
    if path_prefix:
        head = path_prefix
        if has_control(path_prefix):
            # Not expressible in a Lite filter: narrow on the part before the first
            # control character, then check the whole prefix here.
            head, exact_prefix = path_prefix[: first_control(path_prefix)], path_prefix
        elif path_prefix.endswith("~"):  # its range also holds "...\x7f" paths: check here
            exact_prefix = path_prefix
        expr = prefix_filter("path", head) if head else ""
    return expr, exact_prefix


class Nearest:
    """Vector search on one collection with its metric and index."""

    def __init__(
        self,
        conn: Connection,
        consistency: ReadConsistency,
        *,
        dim: int,
        metric: str,
        index_type: str,
        version: int = SCHEMA_VERSION,
        keys: Callable[[str], Collection[str]] = lambda _field: (),
    ) -> None:
        self._conn = conn
        self._consistency = consistency
        self._dim = dim
        self._metric = metric
        self._index_type = index_type
        self._fields = hit_fields(version)  # a version-1 collection has no metadata columns
        self._has_meta = has_meta(version)
        self._keys = keys  # the distinct stored camera_key / lens_key values (facets.Summary.keys)

    def search(
        self,
        vector: np.ndarray,
        *,
        top_k: int = 10,
        min_score: float | None = None,
        path_prefix: str | None = None,
        exclude: str | None = None,
        filters: MetaFilter | None = None,
    ) -> list[Hit]:
        """Nearest records to ``vector``, best first (the rules: ``ImageStore.search``)."""
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query.shape != (self._dim,):
            raise ValueError(f"query vector has {query.size} dimensions, the collection {self._dim}")
        if not np.isfinite(query).all():
            raise ValueError("query vector has NaN or infinite values")
        top_k = int(top_k)
        if not 1 <= top_k <= MAX_TOP_K:
            raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}")
        expr, exact_prefix = prefix_plan(path_prefix)
        checks: list[Callable[[Hit], bool]] = []
        if exact_prefix is not None:
            checks.append(lambda hit: hit.path.startswith(exact_prefix))
        if exclude:  # in the filter, so top_k hits still come back
            expr = all_of([expr, f"content_hash != {literal(exclude)}"])
        if filters:
            if filters.meta_terms() and not self._has_meta:
                raise needs_migration(filters.meta_terms(), self._conn.collection)
            strong = self._consistency.stale
            compiled = compile_filter(filters, self._keys)  # may read (the distinct keys)
            if strong:  # that read took the Strong turn a delete or a foreign write asked for: the search needs it too
                self._consistency.strong_next_read()
            if compiled.nothing:
                return []
            expr = all_of([expr, compiled.expr])
            if compiled.check is not None:
                checks.append(compiled.check)
        hits = self._search(query, expr, top_k, checks, min_score)
        if min_score is not None:
            hits = [h for h in hits if self._passes(h, min_score)]
        return hits[:top_k]

    def _search(
        self,
        query: np.ndarray,
        expr: str,
        top_k: int,
        checks: list[Callable[[Hit], bool]],
        min_score: float | None,
    ) -> list[Hit]:
        """The best hits under ``expr`` that pass ``checks``: with checks, asks for 4x more
        each round until ``top_k`` pass, Milvus has no more, or the hits fall below ``min_score``."""
        limit = top_k if not checks else min(MAX_TOP_K, top_k * 4)
        conn = self._conn
        while True:
            raw = conn.call(
                conn.client.search,
                conn.collection,
                data=[query.tolist()],
                filter=expr,
                limit=limit,
                output_fields=list(self._fields),
                search_params=search_params(self._index_type, self._metric, limit),
                anns_field="vector",
                **self._consistency.read_options(),
            )
            hits = [parse_hit(h, self._metric) for h in (raw[0] if raw else [])]
            if not checks:
                return hits
            kept = [h for h in hits if all(check(h) for check in checks)]
            if len(kept) >= top_k or len(hits) < limit or limit >= MAX_TOP_K:
                return kept
            if min_score is not None and hits and not self._passes(hits[-1], min_score):
                return kept  # the rest score worse still
            limit = min(MAX_TOP_K, limit * 4)

    def _passes(self, hit: Hit, min_score: float) -> bool:
        return hit.score >= min_score if higher_is_better(self._metric) else hit.score <= min_score
