"""Which model a checkpoint is, by its content: the same weights match from any folder.

A collection used to record the model's folder path, so moving the folder, or switching
from the hub id to a downloaded copy (as the offline advice suggests), made every search
answer ``model_mismatch`` although the vectors were the same. The identity here is a hash
of what decides the vectors: the CLIP config (without the keys that only say who saved it),
the image preprocessing config, and the weight file(s) transformers loads, in its order of
preference (safetensors first; shards through their index).

A file in the Hugging Face cache costs nothing: the cache names each large file's blob by
its sha256. Any other weight file is read once (~0.3-0.6 s of CPU for ViT-B/32's 600 MB) and
its hash remembered beside the export cache (``hashes/``), under the file's path, size,
inode, mtime and ctime: a later process (every ``clipvec search``, import and service start)
takes it from there while none of them changed, and reads the file again when one did (a
write changes the ctime, which no program can set back). Threads of one process that ask
at once read it once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from pathlib import Path

log = logging.getLogger(__name__)

# Keys that change when the same weights are saved again (by another transformers version,
# from another folder), not when the model changes.
VOLATILE_KEYS = frozenset({"transformers_version", "_name_or_path", "_commit_hash", "architectures"})
PREFERRED_WEIGHTS = (
    ("model.safetensors", "model.safetensors.index.json"),
    ("pytorch_model.bin", "pytorch_model.bin.index.json"),
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 4 << 20


def content_id(folder: Path) -> str | None:
    """``sha256:<hex>`` of the checkpoint in ``folder``, or None when it has no weights or config here."""
    files = weight_files(folder)
    config = folder / "config.json"
    if not files or not config.is_file():
        return None
    try:
        digest = hashlib.sha256()
        digest.update(_canonical_json(config))
        preprocessing = folder / "preprocessor_config.json"
        digest.update(_canonical_json(preprocessing) if preprocessing.is_file() else b"-")
        for path in files:
            digest.update(_file_sha256(path).encode())
    except (OSError, ValueError):
        return None  # unreadable: no identity, so the name decides (as before)
    return "sha256:" + digest.hexdigest()


def weight_files(folder: Path) -> list[Path]:
    """The weight files transformers would load from ``folder``, in a stable order."""
    for single, index in PREFERRED_WEIGHTS:
        if (folder / single).is_file():
            return [folder / single]
        if (folder / index).is_file():
            try:
                shards = json.loads((folder / index).read_text(encoding="utf-8"))["weight_map"].values()
            except (OSError, ValueError, KeyError, AttributeError):
                return []
            return [folder / name for name in sorted(set(shards))]
    return []


def _canonical_json(path: Path) -> bytes:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in VOLATILE_KEYS}
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _file_sha256(path: Path) -> str:
    """The file's sha256: the hub cache's blob name when it is one, else remembered or read."""
    real = Path(os.path.realpath(path))
    if real.parent.name == "blobs" and _SHA256.match(real.name):
        return real.name
    st = real.stat()
    signature = (str(real), st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    with _hashing_lock:
        lock = _hashing.setdefault(signature, threading.Lock())
    with lock:  # one reader per file version; the others wait for its answer
        if signature not in _hashes:
            memo = _memo_file(signature)
            _hashes[signature] = _remembered(memo, signature) or _read_and_remember(real, signature, memo)
        return _hashes[signature]


_hashes: dict[tuple, str] = {}
_hashing: dict[tuple, threading.Lock] = {}
_hashing_lock = threading.Lock()


def _read_and_remember(path: Path, signature: tuple, memo: Path | None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    value = digest.hexdigest()
    _remember(memo, signature, value)
    return value


def _memo_file(signature: tuple) -> Path | None:
    from clipvec.settings import Settings

    try:
        root = Settings().export_cache_dir()
    except Exception as exc:  # noqa: BLE001 - settings that do not validate: nothing remembered
        log.debug("no hash memo (%s)", exc)
        return None
    return root / "hashes" / (hashlib.sha256(signature[0].encode()).hexdigest()[:32] + ".json")


def _remembered(memo: Path | None, signature: tuple) -> str | None:
    """The hash a process read for exactly this file version, if one was kept in ``memo``."""
    try:
        kept = json.loads(memo.read_text(encoding="utf-8")) if memo else None
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict) or kept.get("signature") != list(signature):
        return None
    value = kept.get("sha256")
    return value if isinstance(value, str) and _SHA256.match(value) else None


def _remember(memo: Path | None, signature: tuple, value: str) -> None:
    """Keep ``value`` in ``memo`` for the next process (best effort: a read-only cache only costs a read)."""
    if memo is None:
        return
    tmp: Path | None = None
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=memo.parent, suffix=".tmp")
        tmp = Path(name)
        with os.fdopen(fd, "w") as f:
            json.dump({"signature": list(signature), "sha256": value}, f)
        os.replace(tmp, memo)
    except OSError as exc:
        log.debug("cannot keep the hash of %s in %s: %s", signature[0], memo, exc)
        if tmp is not None:
            tmp.unlink(missing_ok=True)
