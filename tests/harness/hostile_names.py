"""File names the page must show (issue 21.10): one file per form the importer stores.

A Linux file name is bytes; the importer stores text (``clipvec.sources.paths``): a
backslash as ``\\\\``, a byte that is not UTF-8 as ``\\xNN``, control characters as they
are. Every one must round-trip through the page's URLs to the same file. The unit tests
import the folder in process; the e2e tests (``hostile_service``) import it with the real
CLI, then serve it with a real ``bentoml serve`` (shared through ``services``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from payloads import png_bytes

from clipvec.sources.paths import escape_path

# Names as bytes; "/" separates folders. (Hidden names such as "..foo" are never imported.)
HOSTILE_NAMES: tuple[bytes, ...] = (
    b"back\\slash.png",
    b"not-utf8-\xff\xfe.png",
    b"latin1-caf\xe9.png",
    b"escape-look-alike-\\x41.png",
    b"new\nline.png",
    b"\nleading-newline.png",
    b"tab\there.png",
    b"del\x7fchar.png",
    b"bell\x07.png",
    b"space # question? 100% a+b&c=d.png",
    b"percent-%2e%2e%2f-%41.png",
    "ünïcødé 😀 写真.png".encode(),
    b"-leading-dash.png",
    b"folder with\nnewline/and\\back.png",
)


def stored_path(name: bytes) -> str:
    """The text the importer stores for ``name`` (a path relative to the folder)."""
    return escape_path(os.fsdecode(name))


def write_hostile_folder(folder: Path) -> dict[str, bytes]:
    """Writes one distinct PNG per hostile name under ``folder``; {stored path: file bytes}."""
    files: dict[str, bytes] = {}
    for i, name in enumerate(HOSTILE_NAMES):
        target = os.path.join(os.fsencode(folder), name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        data = png_bytes((40 + 13 * i, 200 - 11 * i, (97 * i) % 256), (48 + i, 40))
        with open(target, "wb") as f:
            f.write(data)
        files[stored_path(name)] = data
    return files


def hostile_service(services: Any) -> Any:
    """A real service (tiny CLIP) over a folder of hostile names, imported by the CLI before it starts.

    ``svc.files`` maps each stored path to its bytes. Milvus Lite is one process: the import
    runs first, then the shared ``services`` factory starts (or reuses) the service.
    """
    from cli_process import run_clipvec

    base = services.folder("hostile-names")
    images, db = base / "images", base / "milvus.db"
    files = write_hostile_folder(images)
    env = {
        "CLIPVEC_MODEL": str(services.tiny_model),
        "CLIPVEC_PRECISION": "fp32",
        "CLIPVEC_MILVUS_URI": str(db),
        "CLIPVEC_IMAGES_DIR": str(images),
    }
    if not (base / "imported").exists():
        done = run_clipvec(["import", str(images), "--no-progress"], env)
        assert done.returncode == 0, done.stdout + done.stderr
        (base / "imported").touch()
    svc = services.get("hostile-names", env)
    svc.files = files
    svc.images_dir = images
    return svc
