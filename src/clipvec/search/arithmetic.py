"""Query arithmetic: one query made of weighted parts, texts and example images (issue 17.5).

"a beach" + this photo - "people": each part's unit vector times its weight, summed and
normalised again, is searched like any query vector. An example image is either an image
the collection holds, by its stored path (its stored vector: nothing is decoded or
encoded), or image bytes (an upload). The collection's own examples are left out of the
hits: asking for "more like this one" never answers "this one".

``parse_parts`` is the one check of a query's parts for the HTTP body
(``{"parts": [{"text"|"image_path"|"image_b64": ..., "weight": 1.0}]}``) and the CLI.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from clipvec.search.options import SearchOptions, bad_parameter
from clipvec.search.query import in_order
from clipvec.settings import TOP_K_MAX
from clipvec.store import Hit, ImageStore

MAX_PARTS = 16
MAX_WEIGHT = 100.0
MAX_TEXT_CHARS = 10_000
KINDS = ("text", "image_path", "image_b64")


@dataclass(frozen=True)
class QueryPart:
    """One part: exactly one of ``text``, ``image_path`` (stored) or ``image`` (bytes), and its weight."""

    weight: float = 1.0
    text: str | None = None
    image_path: str | None = None
    image: bytes | None = None

    def label(self) -> str:
        what = f"text {self.text!r}" if self.text is not None else f"image {self.image_path or '(upload)'}"
        return f"{'+' if self.weight >= 0 else '-'}{abs(self.weight):g} x {what}"


def parse_parts(value: Any, *, max_image_bytes: int) -> list[QueryPart]:
    """``{"parts": [...]}`` (or the list alone) -> checked parts; ``bad_parameter`` (400) names the fault."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"parts"})
        if unknown:
            raise bad_parameter(f'unknown key {unknown[0][:50]!r}: the body is {{"parts": [...]}}')
        value = value.get("parts")
    if not isinstance(value, list) or not value:
        raise bad_parameter('send {"parts": [{"text": "a beach", "weight": 1}, ...]} with 1 to 16 parts')
    if len(value) > MAX_PARTS:
        raise bad_parameter(f"{len(value)} parts; a query takes at most {MAX_PARTS}")
    return [_part(i, item, max_image_bytes) for i, item in enumerate(value)]


def _part(i: int, item: Any, max_image_bytes: int) -> QueryPart:
    if not isinstance(item, dict):
        raise bad_parameter(f"part {i} must be an object with one of {', '.join(KINDS)} and a weight")
    kinds = [k for k in KINDS if k in item]
    unknown = sorted(set(item) - {*KINDS, "weight"})
    if len(kinds) != 1 or unknown:
        raise bad_parameter(f"part {i} must have exactly one of {', '.join(KINDS)} (and an optional weight)")
    weight = item.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
        raise bad_parameter(f"part {i}: weight must be a number")
    if weight == 0 or abs(weight) > MAX_WEIGHT:
        raise bad_parameter(f"part {i}: weight must be non-zero and at most {MAX_WEIGHT:g} either way")
    kind, raw = kinds[0], item[kinds[0]]
    if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
        raise bad_parameter(f"part {i}: {kind} must be a non-empty string")
    if kind == "text":
        if len(raw) > MAX_TEXT_CHARS:
            raise bad_parameter(f"part {i}: the text is longer than {MAX_TEXT_CHARS} characters")
        return QueryPart(float(weight), text=raw)
    if kind == "image_path":
        return QueryPart(float(weight), image_path=raw)
    if len(raw) > (max_image_bytes + 2) // 3 * 4 + 4:
        raise bad_parameter(f"part {i}: the image is larger than {max_image_bytes} bytes")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise bad_parameter(f"part {i}: image_b64 is not base64") from None
    return QueryPart(float(weight), image=data)


@dataclass(frozen=True)
class Combined:
    vector: np.ndarray  # unit norm
    examples: frozenset[str]  # content hashes of the collection's own example images


def combine(
    parts: Sequence[QueryPart],
    *,
    encode_texts: Callable[[list[str]], np.ndarray],
    encode_image: Callable[[bytes], np.ndarray],
    stored: Callable[[str], tuple[str, np.ndarray] | None],
) -> Combined:
    """The normalised weighted sum of the parts' unit vectors (texts encoded in one batch)."""
    texts = [p.text for p in parts if p.text is not None]
    text_vectors = iter(encode_texts(texts) if texts else [])
    total: np.ndarray | None = None
    examples: set[str] = set()
    for part in parts:
        if part.text is not None:
            vector = next(text_vectors)
        elif part.image_path is not None:
            found = stored(part.image_path)
            if found is None:
                raise bad_parameter(f"no image in the collection has the path {part.image_path!r}")
            examples.add(found[0])
            vector = found[1]
        else:
            vector = encode_image(part.image or b"")
        unit = np.asarray(vector, dtype=np.float64)
        unit = unit / max(float(np.linalg.norm(unit)), 1e-12)
        total = part.weight * unit if total is None else total + part.weight * unit
    assert total is not None
    norm = float(np.linalg.norm(total))
    if norm < 1e-6:
        raise bad_parameter("the parts cancel each other out: nothing is left to search for")
    return Combined((total / norm).astype(np.float32), frozenset(examples))


def stored_example(store: ImageStore, path: str) -> tuple[str, np.ndarray] | None:
    """The content hash and stored vector of the image stored under ``path``, if any."""
    record = store.get_by_path(path)
    if record is None:
        return None
    found = store.get([record.content_hash], with_vectors=True).get(record.content_hash)
    return None if found is None or found.vector is None else (found.content_hash, np.asarray(found.vector))


def search_combined(store: ImageStore, combined: Combined, options: SearchOptions) -> list[Hit]:
    """The hits of ``combined``, without the collection's own examples (asked for that many more)."""
    kwargs = options.as_kwargs()
    kwargs["top_k"] = min(TOP_K_MAX, options.top_k + len(combined.examples))
    hits = [h for h in store.search(combined.vector, **kwargs) if h.content_hash not in combined.examples]
    return in_order(hits[: options.top_k], options.sort)
