"""query -> vector -> hits: the search options every caller checks the same way, the query, the hit formats."""

from clipvec.search.hits import HIT_PATHS_SHOWN, format_hits, hit_json, hit_line, meta_json, metric_line
from clipvec.search.options import TOP_K_MAX, SearchOptions
from clipvec.search.query import search_image_bytes, search_text

__all__ = [
    "HIT_PATHS_SHOWN",
    "TOP_K_MAX",
    "SearchOptions",
    "format_hits",
    "hit_json",
    "meta_json",
    "hit_line",
    "metric_line",
    "search_image_bytes",
    "search_text",
]
