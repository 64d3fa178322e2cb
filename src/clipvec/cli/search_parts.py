"""``clipvec search "a beach" --like photos/x.jpg --minus "people"``: query arithmetic on the command line.

The query text and ``--image`` are parts of weight +1, ``--plus``/``--minus`` texts +1/-1,
``--like``/``--unlike`` images +1/-1 (:mod:`clipvec.search.arithmetic`). An image given
to ``--like`` is first looked up in the collection, as written and as the file's stored
path (below the images folder, else absolute: ``clipvec.sources.roots``): then its stored
vector is used and it is left out of the results. Otherwise it is read as an image file.
"""

from __future__ import annotations

import argparse
import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clipvec.errors import ClipvecError
from clipvec.search.arithmetic import QueryPart, stored_example
from clipvec.sources import escape_path, folder_prefix
from clipvec.store import ImageStore


@dataclass(frozen=True)
class ImageRef:
    """An example image as the user named it: a stored path or a file."""

    name: str
    weight: float

    def stored_forms(self, images_dir: str | Path) -> list[str]:
        """The stored paths it may be: as written, and the stored path of the file it names."""
        forms = [self.name]
        file = Path(self.name).expanduser()
        if file.is_file():
            forms.append(folder_prefix(file.parent, images_dir) + escape_path(file.resolve().name))
        return forms

    def read(self) -> bytes:
        try:
            return Path(self.name).expanduser().read_bytes()
        except OSError as exc:
            raise ClipvecError(
                f"{self.name} is neither an image of the collection nor a readable file ({exc.strerror or exc})",
                code="bad_parameter",
            ) from None


def wants_arithmetic(args: argparse.Namespace) -> bool:
    return any(getattr(args, flag, None) for flag in ("plus", "minus", "like", "unlike"))


def fixed_parts(args: argparse.Namespace, image: bytes | None) -> list[QueryPart]:
    """The parts that need no collection: the query, --image, --plus and --minus."""
    parts = [QueryPart(1.0, text=args.query)] if args.query and args.query.strip() else []
    if image is not None:
        parts.append(QueryPart(1.0, image=image))
    parts += [QueryPart(1.0, text=t) for t in args.plus or []]
    parts += [QueryPart(-1.0, text=t) for t in args.minus or []]
    return parts


def image_refs(args: argparse.Namespace) -> list[ImageRef]:
    return [ImageRef(n, 1.0) for n in args.like or []] + [ImageRef(n, -1.0) for n in args.unlike or []]


def resolve_here(ref: ImageRef, store: ImageStore, images_dir: str | Path) -> QueryPart:
    """A stored example when the collection has it, else the file's bytes."""
    for form in ref.stored_forms(images_dir):
        if stored_example(store, form) is not None:
            return QueryPart(ref.weight, image_path=form)
    return QueryPart(ref.weight, image=ref.read())


def remote_json(parts: list[QueryPart], refs: list[ImageRef]) -> dict[str, Any]:
    """The ``/search_combined`` body: a file is sent (base64), any other name as a stored path."""
    items: list[dict[str, Any]] = []
    for part in parts:
        if part.text is not None:
            items.append({"text": part.text, "weight": part.weight})
        else:
            items.append({"image_b64": base64.b64encode(part.image or b"").decode(), "weight": part.weight})
    for ref in refs:
        if Path(ref.name).expanduser().is_file():
            items.append({"image_b64": base64.b64encode(ref.read()).decode(), "weight": ref.weight})
        else:
            items.append({"image_path": ref.name, "weight": ref.weight})
    return {"parts": items}
