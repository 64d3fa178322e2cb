"""The export cache: each checkpoint exported once per runtime and precision, reused, verified.

An export is a folder ``<runtime>-<precision>-<key>`` under the cache root (``CLIPVEC_EXPORT_CACHE``,
default ``~/.cache/clipvec/exports``). The key hashes the checkpoint's content
(``model/identity.py``: config, preprocessing and weights, not its path), the runtime, the
precision and ``EXPORTER_VERSION``, so changed weights are exported again and the same weights
from another folder are not.

* **Atomic**: built in a ``.<name>.partial-*`` folder beside it and renamed into place with
  its manifest written last; a folder that is not renamed (an exporter killed half-way) is
  never read, and the next export removes it.
* **One exporter at a time**: an exclusive ``flock`` on ``<name>.lock``; the second process
  waits and then finds the export done. The kernel drops the lock of a killed process.
* **Verified on every load**: manifest.json lists each file's size and sha256 and the key's
  parts; a file that is missing, cut short, changed or extra-damaged makes the export count as
  absent: it is moved aside and built again, with a warning in the log, never loaded.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

EXPORTER_VERSION = "1"  # bump when what an export holds changes: every cached one is built again
MANIFEST = "manifest.json"
_CHUNK = 4 << 20

# (checkpoint folder, into, runtime, precision) -> (manifest facts, model file names); ``build.py``.
Exporter = Callable[[Path, Path, str, str], tuple[dict[str, Any], list[str]]]


def artefact_precision(runtime: str, precision: str) -> str:
    """The precision of the files on disk: OpenVINO's bf16 is a hint given to its fp32 files."""
    if precision == "auto" or (runtime == "openvino" and precision == "bf16"):
        return "fp32"
    return precision


def export_name(content_id: str, runtime: str, precision: str) -> str:
    """The export's folder name: readable runtime and precision, then the content key."""
    key = json.dumps([EXPORTER_VERSION, content_id, runtime, precision]).encode()
    return f"{runtime}-{precision}-{hashlib.sha256(key).hexdigest()[:24]}"


def cached_export(
    root: Path,
    checkpoint: Path,
    content_id: str,
    runtime: str,
    precision: str,
    exporter: Exporter,
    *,
    hashes: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """The verified export of ``checkpoint`` for ``runtime`` at ``precision``: reused, or built now.

    ``exporter`` is called only when no sound export is in the cache. ``hashes=False``
    checks a cached export's manifest and sizes only: the caller then checks the hashes
    (``hash_problem``) while the runtime reads the files, and ``discard``s it if they differ.
    """
    precision = artefact_precision(runtime, precision)
    name = export_name(content_id, runtime, precision)
    final = root / name
    expected = manifest_key(content_id, runtime, precision)
    manifest, problem = verified(final, expected, hashes=hashes)
    if manifest is not None:
        return final, manifest
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f".{name}.lock"):
        manifest, problem = verified(
            final, expected, hashes=hashes
        )  # another process may have built it meanwhile
        if manifest is not None:
            return final, manifest
        if final.exists():
            log.warning("the cached export %s is damaged (%s): exporting it again", final, problem)
            _remove(final)
        for partial in root.glob(f".{name}.partial-*"):  # left by a killed exporter (we hold the lock)
            _remove(partial)
        log.info("exporting %s for %s (%s) into %s, once", checkpoint, runtime, precision, final)
        started = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=root))
        try:
            facts, files = exporter(checkpoint, tmp, runtime, precision)
            manifest = {**expected, **facts, "files": {f: _describe(tmp / f) for f in _all_files(tmp, files)}}
            _write_synced(tmp / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
            _sync_dir(tmp)
            os.rename(tmp, final)
            _sync_dir(root)
        except BaseException:
            _remove(tmp)
            raise
        log.info("exported %s in %.1fs", final.name, time.perf_counter() - started)
    return final, manifest


def manifest_key(content_id: str, runtime: str, precision: str) -> dict[str, str]:
    """What a manifest must say to be this export (``precision``: the files', ``artefact_precision``)."""
    return {
        "exporter": EXPORTER_VERSION,
        "content_id": content_id,
        "runtime": runtime,
        "precision": precision,
    }


def open_checked(
    folder: Path, manifest: dict[str, Any], opener: Callable[[], T]
) -> tuple[T | None, str, Exception | None]:
    """``opener()`` while another thread checks the export's sha256 (both take about a second for
    ViT-B/32): (what it opened or None, the hash problem or "", the opener's error or None)."""
    with ThreadPoolExecutor(1, thread_name_prefix="clipvec-export-check") as pool:
        checking = pool.submit(hash_problem, folder, manifest)
        try:
            opened, error = opener(), None
        except Exception as exc:  # noqa: BLE001 - damaged files fail in any way; the caller says how
            opened, error = None, exc
        return opened, checking.result(), error


def verified(
    folder: Path, expected: dict[str, str], *, hashes: bool = True
) -> tuple[dict[str, Any] | None, str]:
    """(manifest, "") when ``folder`` is a complete, unchanged export of ``expected``; else (None, why).

    ``hashes=False``: the manifest and the files' sizes only (``hash_problem`` does the rest).
    """
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "no manifest"
    except (OSError, ValueError) as exc:
        return None, f"manifest unreadable: {exc}"
    if not isinstance(manifest, dict) or any(manifest.get(k) != v for k, v in expected.items()):
        return None, "manifest of another export"
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return None, "manifest lists no files"
    for name, want in files.items():
        path = folder / name
        try:
            size = path.stat().st_size
        except OSError:
            return None, f"{name} is missing"
        if size != want.get("size"):
            return None, f"{name} has {size} bytes, not {want.get('size')}"
    if hashes and (problem := hash_problem(folder, manifest)):
        return None, problem
    return manifest, ""


def hash_problem(folder: Path, manifest: dict[str, Any]) -> str:
    """Which file of the export differs from its manifest's sha256 ("" when none does)."""
    for name, want in manifest["files"].items():
        try:
            if _sha256(folder / name) != want.get("sha256"):
                return f"{name} changed since it was exported"
        except OSError as exc:
            return f"{name} cannot be read: {exc.strerror or exc}"
    return ""


def discard(folder: Path, problem: str) -> None:
    """Remove an export found damaged after it was handed out (the next ``cached_export`` builds it again)."""
    log.warning("the cached export %s is damaged (%s): exporting it again", folder, problem)
    with _locked(folder.parent / f".{folder.name}.lock"):
        _remove(folder)


def _all_files(folder: Path, model_files: list[str]) -> list[str]:
    """Every file the export holds (model files first): all of them are verified on load."""
    rest = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in model_files)
    return [*model_files, *rest]


def _describe(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        os.fsync(f.fileno())
    return {"size": path.stat().st_size, "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(folder: Path) -> None:
    """Move a damaged or partial export aside, then delete it (a reader never sees half of one)."""
    aside = folder.with_name(f".{folder.name}.removing-{os.getpid()}-{time.monotonic_ns()}")
    try:
        os.rename(folder, aside)
    except FileNotFoundError:
        return
    shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
