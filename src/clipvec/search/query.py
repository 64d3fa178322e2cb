"""query -> vector -> hits: by text or by an example image, for the CLI and the service."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from clipvec.images.prepare import prepare_image
from clipvec.search.options import SearchOptions
from clipvec.store import Hit, ImageStore

if TYPE_CHECKING:  # torch is imported by whoever loads a model, not by a query's types
    from clipvec.model.encoder import ClipEncoder


def search_vector(store: ImageStore, vector: np.ndarray, options: SearchOptions) -> list[Hit]:
    """The hits for ``vector`` under ``options``, in the order ``options.sort`` asks for."""
    return in_order(store.search(vector, **options.as_kwargs()), options.sort)


def in_order(hits: list[Hit], sort: str) -> list[Hit]:
    """``score``: as found (best first). ``taken``: the same hits oldest first, unknown dates
    last (among those, and among equal dates, best first)."""
    if sort != "taken":
        return hits
    return sorted(
        hits, key=lambda h: (h.meta.taken is None, h.meta.taken or 0)
    )  # stable: ties keep score order


def search_text(encoder: ClipEncoder, store: ImageStore, query: str, options: SearchOptions) -> list[Hit]:
    vector, _ = encoder.encode_text(query)
    return search_vector(store, vector, options)


def image_vector(encoder: ClipEncoder, data: bytes, *, max_pixels: int) -> np.ndarray:
    """An image's bytes -> its unit vector (decoded and prepared as every path does)."""
    prepared = prepare_image(data, encoder.preprocessor, max_pixels=max_pixels)
    return encoder.encode_pixels(prepared.pixels[None])[0]


def search_image_bytes(
    encoder: ClipEncoder, store: ImageStore, data: bytes, options: SearchOptions, *, max_pixels: int
) -> list[Hit]:
    return search_vector(store, image_vector(encoder, data, max_pixels=max_pixels), options)
