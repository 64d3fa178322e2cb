"""query -> vector -> hits, shared by the CLI, the original script and the service."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any

from clipvec.images.prepare import prepare_image
from clipvec.model.encoder import ClipEncoder
from clipvec.settings import Settings
from clipvec.store import Hit, ImageStore

METRIC_WORDS = {
    "COSINE": "COSINE (cosine similarity)",
    "IP": "IP (inner product)",
    "L2": "L2 (Euclidean distance)",
}


def search_text(
    encoder: ClipEncoder,
    store: ImageStore,
    query: str,
    *,
    top_k: int,
    min_score: float | None = None,
    path_prefix: str | None = None,
) -> list[Hit]:
    vector, _ = encoder.encode_text(query)
    return store.search(vector, top_k=top_k, min_score=min_score, path_prefix=path_prefix)


def search_image_bytes(
    encoder: ClipEncoder,
    store: ImageStore,
    data: bytes,
    *,
    max_pixels: int,
    top_k: int,
    min_score: float | None = None,
    path_prefix: str | None = None,
) -> list[Hit]:
    prepared = prepare_image(data, encoder.preprocessor, max_pixels=max_pixels)
    vector = encoder.encode_pixels(prepared.pixels[None])[0]
    return store.search(vector, top_k=top_k, min_score=min_score, path_prefix=path_prefix)


def metric_line(metric: str, higher_is_better: bool) -> str:
    direction = "higher" if higher_is_better else "lower"
    return f"Using {METRIC_WORDS.get(metric, metric)} for search; {direction} scores are closer matches."


HIT_PATHS_SHOWN = 5  # a hit lists this many of its paths, plus how many it has (path_count)


def hit_json(hit: Hit) -> dict[str, Any]:
    answer = asdict(hit)
    answer["paths"] = hit.paths[:HIT_PATHS_SHOWN]
    answer["path_count"] = len(hit.paths)
    return answer


def format_hits(hits: list[Hit]) -> list[str]:
    """The original script's line shape: ``ID: image1.jpg, Score: 0.31``."""
    return [f"ID: {hit.path}, Score: {hit.score:.2f}" for hit in hits]


def run_search_cli(settings: Settings, args) -> int:
    if args.image is None and not (args.query and args.query.strip()):
        print('clipvec: give a text to search for (clipvec search "a dog") or --image FILE', file=sys.stderr)
        return 2
    encoder = ClipEncoder.from_settings(settings)
    top_k = args.top_k or settings.top_k
    with ImageStore.from_settings(settings, model_name=encoder.name, dim=encoder.dim) as store:
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
            hits = search_image_bytes(
                encoder,
                store,
                data,
                max_pixels=settings.max_pixels,
                top_k=top_k,
                min_score=args.min_score,
                path_prefix=args.path_prefix,
            )
        else:
            hits = search_text(
                encoder,
                store,
                args.query,
                top_k=top_k,
                min_score=args.min_score,
                path_prefix=args.path_prefix,
            )
        if args.json:
            print(json.dumps({"hits": [hit_json(h) for h in hits], "metric": store.metric}))
            return 0
        print(metric_line(store.metric, store.higher_is_better))
        print("Search results:")
        for line in format_hits(hits):
            print(line)
    return 0
