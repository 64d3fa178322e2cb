"""The facets as the service answers them (``GET /facets``) and ``clipvec facets`` prints them.

Each value is what a filter takes back: ``camera=<value>`` matches that camera (its name is a
part of its own make and model), ``taken_after=<taken.first>`` reads the date as stored.
"""

from __future__ import annotations

from typing import Any

from clipvec.search.filter_params import when_text
from clipvec.store import FacetCount, Facets

VALUES_SHOWN = 1000  # per list; a longer one says how many more there are
MIGRATE_HINT = "this collection has no photo metadata yet: run `clipvec migrate` to add it"


def _values(entries: tuple[FacetCount, ...]) -> list[dict[str, Any]]:
    return [{"value": e.value, "count": e.count} for e in entries[:VALUES_SHOWN]]


def facets_json(facets: Facets) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "count": facets.total,
        "cameras": _values(facets.cameras),
        "lenses": _values(facets.lenses),
        "formats": _values(facets.formats),
        "taken": {
            "first": None if facets.taken_first is None else when_text(facets.taken_first),
            "last": None if facets.taken_last is None else when_text(facets.taken_last),
            "known": facets.taken_known,
            "unknown": facets.total - facets.taken_known,
        },
        "unknown": {"camera": facets.camera_unknown, "lens": facets.lens_unknown},
        "metadata": facets.has_meta,
    }
    for name, entries in (
        ("cameras", facets.cameras),
        ("lenses", facets.lenses),
        ("formats", facets.formats),
    ):
        if len(entries) > VALUES_SHOWN:
            answer[f"{name}_more"] = len(entries) - VALUES_SHOWN
    if not facets.has_meta:
        answer["hint"] = MIGRATE_HINT
    return answer


def facets_lines(answer: dict[str, Any]) -> list[str]:
    """``facets_json``'s answer for people: one block per facet, counts right-aligned."""
    lines = [f"{answer['count']} images"]
    for title, key, unknown in (
        ("Cameras", "cameras", "camera"),
        ("Lenses", "lenses", "lens"),
        ("Formats", "formats", ""),
    ):
        lines.append(f"{title}:")
        lines.extend(f"  {v['count']:>8}  {v['value']}" for v in answer[key])
        if answer.get(f"{key}_more"):
            lines.append(f"  ... and {answer[f'{key}_more']} more")
        if unknown and answer["unknown"][unknown]:
            lines.append(f"  {answer['unknown'][unknown]:>8}  (unknown)")
    taken = answer["taken"]
    if taken["known"]:
        lines.append(
            f"Taken: {taken['first']} to {taken['last']} ({taken['known']} known, {taken['unknown']} unknown)"
        )
    else:
        lines.append(f"Taken: no known dates ({taken['unknown']} unknown)")
    if answer.get("hint"):
        lines.append(f"Note: {answer['hint']}")
    return lines
