"""query -> vector -> hits: by text or by an example image, for the CLI and the service."""

from __future__ import annotations

from clipvec.images.prepare import prepare_image
from clipvec.model.encoder import ClipEncoder
from clipvec.search.options import SearchOptions
from clipvec.store import Hit, ImageStore


def search_text(encoder: ClipEncoder, store: ImageStore, query: str, options: SearchOptions) -> list[Hit]:
    vector, _ = encoder.encode_text(query)
    return store.search(vector, **options.as_kwargs())


def search_image_bytes(
    encoder: ClipEncoder, store: ImageStore, data: bytes, options: SearchOptions, *, max_pixels: int
) -> list[Hit]:
    prepared = prepare_image(data, encoder.preprocessor, max_pixels=max_pixels)
    vector = encoder.encode_pixels(prepared.pixels[None])[0]
    return store.search(vector, **options.as_kwargs())
