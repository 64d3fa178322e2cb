"""The nearest records to a vector, optionally under a path prefix and above a score."""

from __future__ import annotations

import numpy as np

from clipvec.store.connection import Connection
from clipvec.store.consistency import ReadConsistency
from clipvec.store.filters import first_control, has_control, literal, prefix_filter
from clipvec.store.records import MAX_TOP_K, Hit, higher_is_better, hit_fields, parse_hit
from clipvec.store.schema import SCHEMA_VERSION, search_params


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
    ) -> None:
        self._conn = conn
        self._consistency = consistency
        self._dim = dim
        self._metric = metric
        self._index_type = index_type
        self._fields = hit_fields(version)  # a version-1 collection has no metadata columns

    def search(
        self,
        vector: np.ndarray,
        *,
        top_k: int = 10,
        min_score: float | None = None,
        path_prefix: str | None = None,
        exclude: str | None = None,
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
        if exclude:  # in the filter, so top_k hits still come back
            expr = " and ".join(e for e in (expr, f"content_hash != {literal(exclude)}") if e)
        # With a prefix checked here, ask for more hits until top_k pass it (or there are no more).
        limit = top_k if exact_prefix is None else min(MAX_TOP_K, top_k * 4)
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
            if exact_prefix is None:
                break
            kept = [h for h in hits if h.path.startswith(exact_prefix)]
            if len(kept) >= top_k or len(hits) < limit or limit >= MAX_TOP_K:
                hits = kept
                break
            limit = min(MAX_TOP_K, limit * 4)
        if min_score is not None:
            if higher_is_better(self._metric):
                hits = [h for h in hits if h.score >= min_score]
            else:
                hits = [h for h in hits if h.score <= min_score]
        return hits[:top_k]
