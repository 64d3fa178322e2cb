"""``POST /add_image``: keep the uploaded file, then store its record; never one without the other."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from clipvec.images import PreparedImage
from clipvec.search import HIT_PATHS_SHOWN
from clipvec.serving import answers
from clipvec.store import PATHS_KEPT, ImageRecord, ImageStore

if TYPE_CHECKING:
    from clipvec.serving.core import ServingCore


def add_image(
    core: ServingCore, data: bytes, name: str, prepared: PreparedImage, vector: np.ndarray
) -> dict[str, Any]:
    """Save ``data`` in the images source (named by content) and upsert its record.

    The same bytes under a new name add that name to the record. If the store refuses the
    write, a file this call created is removed again: no orphan file, no record without a file.
    """
    saved = core.images.save_upload(data, name, prepared.format)  # a local folder or an s3:// prefix

    def add(store: ImageStore) -> dict[str, Any]:
        existing = store.get([saved.content_hash]).get(saved.content_hash)
        paths = list(existing.paths) if existing else []
        if saved.rel_path not in paths and len(paths) < PATHS_KEPT:  # same bytes, another name
            paths.append(saved.rel_path)
        record = ImageRecord(
            content_hash=saved.content_hash,
            paths=paths,
            size=len(data),
            mtime=saved.mtime,
            width=prepared.width,
            height=prepared.height,
            format=prepared.format,
            vector=vector,
        )
        store.upsert([record])
        answer = answers.hits_answer(core.encoder, store, store.search(vector, top_k=1))
        answer.update(
            path=paths[0],
            paths=paths[:HIT_PATHS_SHOWN],
            path_count=len(paths),
            content_hash=saved.content_hash,
            created=existing is None,
            size=len(data),
            width=prepared.width,
            height=prepared.height,
            format=prepared.format,
        )
        return answer

    try:
        return core.store.run(add)
    except BaseException:
        core.images.remove_upload(saved)  # nothing stored: no orphan file
        raise
