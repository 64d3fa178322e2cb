"""``clipvec search "text" | --image FILE`` (and ``python3 milvus_search.py``).

Prints the seed's lines (``ID: image1.jpg, Score: 0.31``) after a line naming the metric,
or ``{"hits": [...], "metric": ...}`` with ``--json``. Exit 0 found (or nothing above
``--min-score``), 1 the collection is empty or missing, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys

from clipvec.search import SearchOptions, format_hits, hit_json, metric_line, search_image_bytes, search_text
from clipvec.settings import Settings
from clipvec.store import ImageStore


def run_search(settings: Settings, args: argparse.Namespace) -> int:
    if args.image is None and not (args.query and args.query.strip()):
        print('clipvec: give a text to search for (clipvec search "a dog") or --image FILE', file=sys.stderr)
        return 2
    # Checked before the model loads: a bad flag costs a second, not the model's load.
    top_k = settings.top_k if args.top_k is None else args.top_k
    options = SearchOptions.checked(top_k, args.min_score, args.path_prefix)
    from clipvec.model.encoder import ClipEncoder

    encoder = ClipEncoder.from_settings(settings)
    with ImageStore.from_settings(settings, **encoder.identity.store_options()) as store:
        if store.count() == 0:
            print(
                f"clipvec: the collection {settings.collection!r} at {settings.milvus_uri} is empty; "
                "import images first (clipvec import DIR)",
                file=sys.stderr,
            )
            return 1
        if args.image is not None:
            try:
                data = args.image.read_bytes()
            except OSError as exc:
                print(f"clipvec: cannot read {args.image}: {exc.strerror or exc}", file=sys.stderr)
                return 2
            hits = search_image_bytes(encoder, store, data, options, max_pixels=settings.max_pixels)
        else:
            hits = search_text(encoder, store, args.query, options)
        if args.json:
            print(json.dumps({"hits": [hit_json(h) for h in hits], "metric": store.metric}))
            return 0
        print(metric_line(store.metric, store.higher_is_better))
        print("Search results:")
        for line in format_hits(hits):
            print(line)
    return 0
