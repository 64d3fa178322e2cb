"""What the service does, without HTTP: vectors for texts and images, search, adding images.

The BentoML service (:mod:`.service`) and the search page (:mod:`.web`) both receive one
``ServingCore`` per worker; tests drive it directly. It holds the encoder, the micro-batcher
that encodes concurrent single images together, the decode pixel budget and the lane
image requests run in (:mod:`.image_lane`), the collection
(:class:`~.store_handle.StoreHandle`) and the images source uploads are saved to.
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from clipvec.errors import ClipvecError, EmptyInput, InvalidText, PayloadTooLarge
from clipvec.images import PixelBudget, PreparedImage, prepare_image
from clipvec.model.facts import facts_at_hand
from clipvec.search import SearchOptions
from clipvec.search.arithmetic import combine, parse_parts, search_combined, stored_example
from clipvec.search.duplicates import DuplicateOptions, find_duplicates
from clipvec.search.facets import facets_json
from clipvec.search.query import search_vector
from clipvec.serving import answers, metrics
from clipvec.serving.adding import add_image
from clipvec.serving.batcher import MicroBatcher
from clipvec.serving.folder_import import FolderImports
from clipvec.serving.guard.normalise import parse_json
from clipvec.serving.image_lane import ImageLane
from clipvec.serving.routes import ITEM_ERROR
from clipvec.serving.store_handle import StoreHandle
from clipvec.settings import Settings
from clipvec.sources import Source, open_source
from clipvec.store import ImageStore

if TYPE_CHECKING:  # torch comes with the model, in the worker (BentoML's supervisor imports this too)
    from clipvec.model.encoder import ClipEncoder, TextEncoding


class ServingCore:
    """One worker's encoder, batcher, pixel budget, store and images source."""

    def __init__(
        self,
        settings: Settings,
        encoder: ClipEncoder,
        images: Source | None = None,
        store: StoreHandle | None = None,
    ) -> None:
        """``store``: one already opening for this encoder's identity (``from_settings``), else made here."""
        self.settings = settings
        self.encoder = encoder
        self.batcher = MicroBatcher(
            encoder.encode_pixels,
            max_batch=settings.batch_size,
            on_batch=lambda n, s: metrics.observe_batch("image", n, s),
        )
        self._decode_pool = ThreadPoolExecutor(
            max_workers=max(2, settings.resolved_threads()), thread_name_prefix="clipvec-decode"
        )
        self.pixel_budget = PixelBudget(settings.decode_pixel_budget)
        # Image requests run in their own threads (waiting on the budget there), not in
        # the ones text, search and health requests need.
        self.image_lane = ImageLane()
        self.images = images if images is not None else open_source(settings.images_dir)
        self.store = store if store is not None else StoreHandle(settings, **encoder.identity.store_options())
        self.imports = FolderImports(settings, encoder, self.store, self.images)
        if settings.watch:
            self.imports.start_watching()

    @classmethod
    def from_settings(cls, settings: Settings) -> ServingCore:
        """Load the configured model (``ModelLoadError`` with the ways out if it cannot).

        The checkpoint's config.json says which collection fits: the store opens (Milvus Lite
        starts) in a thread while the model loads (issue 20.1), so /readyz comes sooner.
        """
        from clipvec.model.encoder import ClipEncoder

        facts = facts_at_hand(settings.model)
        store = opening = None
        if facts is not None:
            store = StoreHandle(settings, **facts.identity().store_options())
            opening = threading.Thread(
                target=_open_quietly, args=(store,), name="clipvec-store-open", daemon=True
            )
            opening.start()
        try:
            encoder = ClipEncoder.from_settings(settings)
        except BaseException:
            if store is not None and opening is not None:
                opening.join()  # bounded by the store's own timeouts; then no Milvus Lite is left running
                store.close()
            raise
        if store is not None and facts is not None and encoder.identity != facts.identity():
            store.close()  # not the model its config.json described: the store it names is not ours
            store = None
        return cls(settings, encoder, store=store)

    def close(self) -> None:
        self.imports.stop()  # before the store closes under it
        self.store.close()
        self._decode_pool.shutdown(wait=False)

    # ------------------------------------------------------------------ the steps
    def prepare(self, data: bytes) -> PreparedImage:
        """Image bytes -> model pixels, within the pixel budget (big images wait their turn)."""
        try:
            with self.pixel_budget.reservation() as reservation:
                prepared = prepare_image(
                    data,
                    self.encoder.preprocessor,
                    max_pixels=self.settings.max_pixels,
                    reservation=reservation,
                )
        except ClipvecError as err:
            metrics.decode_failures.labels(reason=err.code).inc()
            raise
        metrics.images_decoded.labels(format=prepared.format).inc()
        return prepared

    def encode_texts(self, texts: list[str]) -> TextEncoding:
        started = time.perf_counter()
        encoded = self.encoder.encode_texts(texts)
        metrics.observe_batch("text", len(texts), time.perf_counter() - started)
        return encoded

    # ------------------------------------------------------------------ the use cases
    def vectorize_text(self, text: str) -> dict[str, Any]:
        return answers.text_answer(self.encoder, self.encode_texts([text]))

    def vectorize_image(self, data: bytes) -> dict[str, Any]:
        prepared = self.prepare(data)
        return answers.image_answer(self.encoder, prepared, self.batcher.encode(prepared.pixels))

    def vectorize_texts(self, texts: list[Any]) -> dict[str, Any]:
        """One result per item; a bad item gets its own error (the guard marks the ones it found)."""
        self._check_batch(len(texts), "items")
        results: list[dict[str, Any]] = [{} for _ in texts]
        good: list[int] = []
        for i, item in enumerate(texts):
            if isinstance(item, dict) and isinstance(item.get(ITEM_ERROR), str):  # found by RequestGuard
                results[i] = InvalidText(item[ITEM_ERROR]).to_json()
            elif not isinstance(item, str):
                results[i] = InvalidText(f"item {i} is {type(item).__name__}, not a string").to_json()
            elif not item.strip():
                results[i] = EmptyInput(f"item {i} is an empty string").to_json()
            else:
                good.append(i)
        if good:
            encoded = self.encode_texts([texts[i] for i in good])
            for row, i in enumerate(good):
                results[i] = answers.text_item(encoded, row)
        return answers.batch_answer(self.encoder, results)

    def vectorize_images(self, files: list[tuple[str, bytes]]) -> dict[str, Any]:
        """One result per (name, bytes) file, in order; a bad file gets its own error."""
        self._check_batch(len(files), "files")

        def attempt(data: bytes) -> PreparedImage | ClipvecError:
            try:
                return self.prepare(data)
            except ClipvecError as err:
                return err

        prepared = list(self._decode_pool.map(attempt, [data for _, data in files]))
        good = [i for i, p in enumerate(prepared) if isinstance(p, PreparedImage)]
        vectors = np.empty((0, self.encoder.dim), dtype=np.float32)
        if good:
            started = time.perf_counter()
            vectors = self.encoder.encode_pixels(np.stack([prepared[i].pixels for i in good]))  # type: ignore[union-attr]
            metrics.observe_batch("image", len(good), time.perf_counter() - started)
        row = {i: r for r, i in enumerate(good)}
        results: list[dict[str, Any]] = []
        for i, (name, _) in enumerate(files):
            item = prepared[i]
            if isinstance(item, ClipvecError):
                results.append({"name": name, **item.to_json()})
            else:
                results.append({"name": name, **answers.image_answer(self.encoder, item, vectors[row[i]])})
        return answers.batch_answer(self.encoder, results)

    def search_text(self, query: str, options: SearchOptions) -> dict[str, Any]:
        return self._search(self.encode_texts([query]).vectors[0], options)

    def search_image(self, data: bytes, options: SearchOptions) -> dict[str, Any]:
        prepared = self.prepare(data)
        return self._search(self.batcher.encode(prepared.pixels), options)

    def search_combined(self, body: bytes, options: SearchOptions) -> dict[str, Any]:
        """Query arithmetic (``{"parts": [...]}``): texts in one batch, uploads through the
        micro-batcher, stored examples by their stored vectors (left out of the hits)."""
        parts = parse_parts(parse_json(body), max_image_bytes=self.settings.max_body_bytes)
        combined = combine(
            parts,
            encode_texts=lambda texts: self.encode_texts(texts).vectors,
            encode_image=lambda data: self.batcher.encode(self.prepare(data).pixels),
            stored=lambda path: self.store.run(lambda store: stored_example(store, path)),
        )
        return self.store.run(
            lambda store: answers.hits_answer(self.encoder, store, search_combined(store, combined, options))
        )

    def add_image(self, data: bytes, name: str) -> dict[str, Any]:
        """Save the image under the images folder (or S3 prefix) and store its record."""
        prepared = self.prepare(data)
        vector = self.batcher.encode(prepared.pixels)
        return add_image(self, data, name, prepared, vector)

    def collection_info(self) -> dict[str, Any]:
        """How many images the collection holds, and which model and metric made it."""
        return self.store.run(
            lambda store: answers.collection_answer(self.encoder, store, self.settings.collection)
        )

    def duplicates(self, options: DuplicateOptions) -> dict[str, Any]:
        """Groups of near-duplicate images from the stored vectors (CPU seconds: run it in a lane)."""

        def run(store: ImageStore) -> dict[str, Any]:
            records = store.iter_records(with_vectors=True)
            return find_duplicates(records, options.threshold, path_prefix=options.path_prefix).as_json(
                options
            )

        return self.store.run(run)

    def facets(self) -> dict[str, Any]:
        """Cameras, lenses, formats and dates with counts (a scan of a few columns, kept while current)."""
        return self.store.run(lambda store: facets_json(store.facets()))

    def import_folder(self) -> tuple[bool, dict[str, Any]]:
        """Start importing the images folder in the background: ``(started, status)``."""
        return self.imports.start()

    def import_status(self) -> dict[str, Any]:
        answer = self.imports.status.as_json()
        if self.imports.watcher is not None:
            answer["watch"] = self.imports.watcher.status.as_json()
        return answer

    def is_ready(self) -> bool:
        """``/readyz``: false while the store cannot be opened or read (vectorizing still works)."""
        return self.store.is_ready()

    # ------------------------------------------------------------------ helpers
    def _search(self, vector: np.ndarray, options: SearchOptions) -> dict[str, Any]:
        return self.store.run(
            lambda store: answers.hits_answer(self.encoder, store, search_vector(store, vector, options))
        )

    def _check_batch(self, count: int, what: str) -> None:
        if count > self.settings.max_batch_items:
            raise PayloadTooLarge(f"{count} {what}; the limit is {self.settings.max_batch_items}")


def _open_quietly(store: StoreHandle) -> None:
    """Open the store ahead of the model; what cannot work is said once, by the service's ``check_at_start``."""
    with contextlib.suppress(ClipvecError):  # remembered or retried by the handle, logged by that check
        store.get()
