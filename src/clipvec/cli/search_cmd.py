"""``clipvec search "text" | --image FILE`` (and ``python3 milvus_search.py``).

Prints the seed's lines (``ID: image1.jpg, Score: 0.31``) after a line naming the metric,
``{"hits": [...], "metric": ...}`` with ``--json``, or only the files' absolute paths with
``--paths``; ``--open`` also opens them (:mod:`.search_output`). With ``--service URL``
(``CLIPVEC_SERVICE_URL``) a running service searches (:mod:`.search_remote`) and the model
is not loaded here. Exit 0 found (or nothing above ``--min-score``), 1 the collection is
empty or missing (or a result could not be opened), 2 bad arguments or an unreachable service.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clipvec.cli.reading import open_to_read, say_empty
from clipvec.cli.search_output import file_names, missing_files, open_files, print_paths
from clipvec.cli.search_parts import (
    ImageRef,
    fixed_parts,
    image_refs,
    remote_json,
    resolve_here,
    wants_arithmetic,
)
from clipvec.errors import ClipvecError
from clipvec.model.facts import facts_at_hand
from clipvec.search import SearchOptions, hit_json, hit_line, metric_line, search_image_bytes, search_text
from clipvec.search.arithmetic import QueryPart, combine, search_combined, stored_example
from clipvec.search.filter_params import FILTER_PARAMS
from clipvec.search.options import SearchFilters
from clipvec.search.query import image_vector
from clipvec.settings import Settings

if TYPE_CHECKING:
    from clipvec.model.encoder import ClipEncoder
    from clipvec.store import Hit, ImageStore

# A model load slower than this earns a hint that a running service answers without one.
SLOW_MODEL_LOAD = 3.0


@dataclass(frozen=True)
class Found:
    hits: list[dict[str, Any]]  # as the service answers them (search.hit_json)
    metric: str
    higher_is_better: bool


def run_search(settings: Settings, args: argparse.Namespace) -> int:
    combined = wants_arithmetic(args)
    if args.image is None and not (args.query and args.query.strip()) and not combined:
        print('clipvec: give a text to search for (clipvec search "a dog") or --image FILE', file=sys.stderr)
        return 2
    # Checked before the model loads: a bad flag costs a second, not the model's load.
    top_k = settings.top_k if args.top_k is None else args.top_k
    options = SearchOptions.checked(
        top_k, args.min_score, args.path_prefix, filters=filters_from_args(args), sort=args.sort
    )
    image = None
    if args.image is not None:
        try:
            image = args.image.read_bytes()
        except OSError as exc:
            print(f"clipvec: cannot read {args.image}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    if combined:
        query = Combination(fixed_parts(args, image), image_refs(args))
        found = (
            _ask_service(settings, query, None, options)
            if settings.service_url
            else _search_here(settings, query, None, options)
        )
    elif settings.service_url:
        found = _ask_service(settings, args.query, image, options)
    else:
        found = _search_here(settings, args.query, image, options)
    if found is None:
        return 1
    return _show(settings, args, found)


def filters_from_args(args: argparse.Namespace) -> SearchFilters:
    """The photo filter flags, read as the service reads its query string (``--min-width`` is ``min_width``)."""
    return SearchFilters.from_query(
        {name: value for name in FILTER_PARAMS if (value := getattr(args, name, None)) is not None}
    )


@dataclass(frozen=True)
class Combination:
    """A query of weighted parts (``--plus``, ``--minus``, ``--like``, ``--unlike``)."""

    parts: list[QueryPart]
    refs: list[ImageRef]


def _ask_service(
    settings: Settings, query: str | Combination | None, image: bytes | None, options: SearchOptions
) -> Found | None:
    from clipvec.cli.search_remote import search_service

    url = settings.service_url
    answer = search_service(
        url,
        collection=settings.collection,
        api_key=settings.api_key,
        options=options,
        text=query if isinstance(query, str) else None,
        image=image,
        parts=remote_json(query.parts, query.refs) if isinstance(query, Combination) else None,
    )
    if answer.count == 0:
        say_empty(settings, f"of the service at {url}")
        return None
    return Found(answer.hits, answer.metric, answer.higher_is_better)


def _search_here(
    settings: Settings, query: str | Combination | None, image: bytes | None, options: SearchOptions
) -> Found | None:
    started = time.perf_counter()
    encoder, store = _model_and_store(settings)
    loading = time.perf_counter() - started
    if loading >= SLOW_MODEL_LOAD and sys.stderr.isatty():  # a hint for people, not for scripts
        print(
            f"clipvec: loading the model took {loading:.1f} s; while `clipvec serve` runs for this collection, "
            "--service http://127.0.0.1:3000 (or CLIPVEC_SERVICE_URL) asks it instead",
            file=sys.stderr,
        )
    if store is None:
        return None
    with store:
        if isinstance(query, Combination):
            hits = _search_combination(encoder, store, query, options, settings)
        elif image is not None:
            hits = search_image_bytes(encoder, store, image, options, max_pixels=settings.max_pixels)
        else:
            hits = search_text(encoder, store, query or "", options)
        return Found([hit_json(h) for h in hits], store.metric, store.higher_is_better)


def _model_and_store(settings: Settings) -> tuple[ClipEncoder, ImageStore | None]:
    """The model, and the store opened (``open_to_read``) while the model loads in a thread.

    The checkpoint's config.json says which collection fits (issue 20.1: the Milvus start and
    the model load overlap). A model that fails to load is the error, as when it loaded first;
    a hub id not cached yet is loaded (downloaded) first.
    """
    from clipvec.indexing.model_loading import BackgroundLoad
    from clipvec.model.encoder import ClipEncoder

    facts = facts_at_hand(settings.model)
    if facts is None:
        encoder = ClipEncoder.from_settings(settings)
        return encoder, open_to_read(settings, **encoder.identity.store_options())
    loading = BackgroundLoad(lambda: ClipEncoder.from_settings(settings))
    loading.start()
    identity = facts.identity()
    try:
        store = open_to_read(settings, **identity.store_options())
    except BaseException:
        loading.result()  # the model's error first, as when it loaded before the store opened
        raise
    try:
        encoder = loading.result()
        if encoder.identity != identity:
            raise ClipvecError(f"model {encoder.name} is not the one its config.json describes ({identity})")
    except BaseException:
        if store is not None:
            store.close()
        raise
    return encoder, store


def _search_combination(
    encoder: ClipEncoder, store: ImageStore, query: Combination, options: SearchOptions, settings: Settings
) -> list[Hit]:
    parts = query.parts + [resolve_here(ref, store, settings.images_dir) for ref in query.refs]
    combined = combine(
        parts,
        encode_texts=lambda texts: encoder.encode_texts(texts).vectors,
        encode_image=lambda data: image_vector(encoder, data, max_pixels=settings.max_pixels),
        stored=lambda path: stored_example(store, path),
    )
    return search_combined(store, combined, options)


def _show(settings: Settings, args: argparse.Namespace, found: Found) -> int:
    names = file_names(settings.images_dir, [hit["path"] for hit in found.hits])
    if args.paths:
        print_paths(names, sys.stdout.buffer)
        if missing := missing_files(names):
            print(
                f"clipvec: {len(missing)} of these paths are not files here (first: {missing[0]!r}); "
                f"a relative stored path is below the images folder, here {settings.images_dir} (CLIPVEC_IMAGES_DIR)",
                file=sys.stderr,
            )
    elif args.json:
        print(json.dumps({"hits": found.hits, "metric": found.metric}))
    else:
        print(metric_line(found.metric, found.higher_is_better))
        print("Search results:")
        for hit in found.hits:
            print(hit_line(hit["path"], hit["score"]))
    sys.stdout.flush()
    return open_files(names, sys.stderr) if args.open else 0
