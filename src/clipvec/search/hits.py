"""Hits as people and programs read them: the seed's ``ID: image1.jpg, Score: 0.31`` and JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from clipvec.images import PhotoMeta
from clipvec.store import Hit

HIT_PATHS_SHOWN = 5  # a hit lists this many of its paths, plus how many it has (path_count)
METRIC_WORDS = {
    "COSINE": "COSINE (cosine similarity)",
    "IP": "IP (inner product)",
    "L2": "L2 (Euclidean distance)",
}


def hit_json(hit: Hit) -> dict[str, Any]:
    """A hit as JSON (the service's and ``clipvec search --json``'s), with its photo's metadata:
    ``taken`` (ISO 8601, with its offset when the file recorded one), ``camera``, ``lens``,
    ``lat``/``lon``; null (or "") when unknown."""
    answer = asdict(hit)
    del answer["meta"]  # shown as the fields below, never as the stored sentinels
    answer["paths"] = hit.paths[:HIT_PATHS_SHOWN]
    answer["path_count"] = len(hit.paths)
    answer.update(meta_json(hit.meta))
    return answer


def meta_json(meta: PhotoMeta) -> dict[str, Any]:
    """A photo's metadata as every JSON answer shows it (search hits, ``/add_image``)."""
    return {
        "taken": meta.taken_iso(),
        "camera": meta.camera,
        "lens": meta.lens,
        "lat": meta.lat,
        "lon": meta.lon,
    }


def hit_line(path: str, score: float) -> str:
    """The original script's line shape: ``ID: image1.jpg, Score: 0.31``."""
    return f"ID: {path}, Score: {score:.2f}"


def format_hits(hits: list[Hit]) -> list[str]:
    return [hit_line(hit.path, hit.score) for hit in hits]


def metric_line(metric: str, higher_is_better: bool) -> str:
    direction = "higher" if higher_is_better else "lower"
    return f"Using {METRIC_WORDS.get(metric, metric)} for search; {direction} scores are closer matches."
