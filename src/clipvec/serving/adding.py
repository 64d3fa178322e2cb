"""``POST /add_image``: keep the uploaded file, then store its record; never one without the other."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from clipvec.images import PreparedImage
from clipvec.search import HIT_PATHS_SHOWN, meta_json
from clipvec.serving import answers
from clipvec.store import ImageRecord, ImageStore

if TYPE_CHECKING:
    from clipvec.serving.core import ServingCore


def add_image(
    core: ServingCore, data: bytes, name: str, prepared: PreparedImage, vector: np.ndarray
) -> dict[str, Any]:
    """Save ``data`` in the images source (named by content) and add its name to its record.

    The same bytes under a new name add that name to the record, atomically per content
    (``ImageStore.add_name``): no acknowledged name is lost to a concurrent add. If the store
    refuses the write, a file this call created is removed again: no orphan file, no record
    without a file. A record lists at most ``PATHS_KEPT`` names: a name beyond them is saved
    and served by the page (by its content), and the answer says it is not listed.
    """
    saved = core.images.save_upload(data, name, prepared.format)  # a local folder or an s3:// prefix

    def add(store: ImageStore) -> dict[str, Any]:
        record = ImageRecord(
            content_hash=saved.content_hash,
            paths=[saved.rel_path],
            size=len(data),
            mtime=saved.mtime,
            width=prepared.width,
            height=prepared.height,
            format=prepared.format,
            vector=vector,
            meta=prepared.meta,
        )
        added = store.add_name(record, saved.rel_path)
        paths = list(added.record.paths)
        answer = answers.hits_answer(core.encoder, store, store.search(vector, top_k=1))
        answer.update(
            path=saved.rel_path,  # the name just saved (the record's first name is paths[0])
            paths=paths[:HIT_PATHS_SHOWN],
            path_count=len(paths),
            path_listed=added.listed,
            content_hash=saved.content_hash,
            created=added.created,
            size=len(data),
            width=prepared.width,
            height=prepared.height,
            format=prepared.format,
            **meta_json(added.record.meta),  # as stored (unknown in a version-1 collection)
        )
        if not added.listed:
            answer["note"] = (
                f"saved; the record lists only the first {len(paths)} names of these bytes, so this "
                "name is not among its paths (the page still serves the file under this name)"
            )
        return answer

    try:
        return core.store.run(add)
    except BaseException:
        core.images.remove_upload(saved)  # nothing stored: no orphan file
        raise
