"""Which model a checkpoint is, by its content: the same weights match from any folder.

A collection used to record the model's folder path, so moving the folder, or switching
from the hub id to a downloaded copy (as the offline advice suggests), made every search
answer ``model_mismatch`` although the vectors were the same. The identity here is a hash
of what decides the vectors: the CLIP config (without the keys that only say who saved it),
the image preprocessing config, and the weight file(s) transformers loads, in its order of
preference (safetensors first; shards through their index).

Hashing the weights reads them once per process (~0.3 s for ViT-B/32's 600 MB). A file in
the Hugging Face cache costs nothing: the cache names each large file's blob by its sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from functools import lru_cache
from pathlib import Path

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
    """The file's sha256: the hub cache's blob name when it is one, else read (once per version)."""
    real = Path(os.path.realpath(path))
    if real.parent.name == "blobs" and _SHA256.match(real.name):
        return real.name
    st = real.stat()
    return _hashed(str(real), st.st_size, st.st_mtime_ns, st.st_ino)


@lru_cache(maxsize=64)
def _hashed(path: str, size: int, mtime_ns: int, inode: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
