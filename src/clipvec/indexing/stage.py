"""The stage of an import that turns files into vectors, and what it hands back per file.

The importer plans (what to read), hands the files to a :class:`Stage`, merges what comes
back into records and writes them. Two stages exist: :class:`~.local_stage.LocalStage`
(threads and the encoder in this process) and :class:`~.ray_stage.RayStage` (a Ray Data
pipeline on a cluster). Both read a file's first bytes before the rest (non-images cost
4 KB, ``clipvec.images.read_image_file``), hash every file they read (the content hash is
the record's key), and decode and encode only contents that are not stored yet.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from clipvec.errors import ClipvecError
from clipvec.images.photo_meta import UNKNOWN_META, PhotoMeta
from clipvec.indexing.report import FileFailure, ImportReport
from clipvec.sources import FoundFile, Source


@dataclass
class Work:
    """One file the stage read, with what became of it (exactly one outcome is set).

    ``vector`` with ``format``/``width``/``height``/``meta``: a new content, encoded. Only
    ``content_hash``: a content already stored (its stored vector is reused). ``skip``: not
    an image, or too large. ``error``: unreadable or undecodable.
    """

    found: FoundFile
    content_hash: str = ""
    vector: np.ndarray | None = None
    format: str = ""
    width: int = 0
    height: int = 0
    meta: PhotoMeta = UNKNOWN_META  # what the new content's header says (issue 17)
    error: ClipvecError | None = None
    skip: FileFailure | None = None
    # The stage already stored this new record itself (Ray workers writing to a server in
    # parallel); the importer then writes it again only if it merged more paths into it.
    stored: bool = False


class Stage(Protocol):
    """Files in, finished :class:`Work` out, in the order of ``todo``."""

    @property
    def model_loaded(self) -> bool:
        """Whether this stage loaded a model in this process (a no-op import never does)."""
        ...

    def run(
        self, source: Source, todo: list[FoundFile], known: Collection[str], report: ImportReport
    ) -> Iterator[Work]:
        """Read, hash, decode and encode ``todo``; ``known`` holds the content hashes already stored.

        Adds its stage timings to ``report.seconds``.
        """
        ...
