"""Where a CLIP checkpoint's files are, and whether they can be loaded, before torch is touched.

A model is a local folder or a Hugging Face hub id. ``resolve_model`` finds its folder (the
folder itself, the hub cache, or a download now) and checks it file by file, so that a
missing or damaged checkpoint is one clear message (``model_help``) instead of a library
traceback from every BentoML worker. ``read_model_config`` is the one reader of config.json;
it refuses a family clipvec cannot run (``model/family.py``) before any weights are looked at.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import struct
import threading
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from clipvec.errors import ModelLoadError
from clipvec.model.advice import model_help
from clipvec.model.family import Family, family_of, shown_checkpoint

log = logging.getLogger(__name__)

WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
# What a hub download fetches: config, tokenizer, preprocessor and weights (not TF/Flax copies).
# *.model: the SentencePiece tokenizers of some families (SigLIP's spiece.model, XLM-R's, Gemma's).
_HUB_PATTERNS = ["*.json", "*.txt", "*.model", "*.safetensors"]
# What a tokenizer of any supported family is saved as: a fast tokenizer.json, CLIP's BPE files,
# BERT's WordPiece vocab.txt (Chinese-CLIP), or a SentencePiece model (SigLIP, XLM-R, Gemma).
TOKENIZER_FILES = "tokenizer.json, vocab.json and merges.txt, vocab.txt, or a SentencePiece *.model"
# How long the hub (or the proxy in front of it) may take to accept a connection before we say
# it cannot be reached: the libraries' own retries with backoff take ~30 s offline.
HUB_PROBE_TIMEOUT_S = 1.0


class UnusableConfig(ValueError):
    """config.json is missing or unreadable; the message says which."""


def read_model_config(folder: Path) -> dict[str, Any]:
    """The parsed config.json of a checkpoint folder of a supported family.

    ``UnusableConfig`` says why it cannot be read; ``UnsupportedModelFamily`` (a
    ``ModelLoadError``, one line) when it is another family's (``family_of``).
    """
    config = _parsed_config(folder)
    family_of(config, shown_checkpoint(folder))
    return config


def _parsed_config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UnusableConfig("no config.json") from None
    except (OSError, ValueError) as exc:
        raise UnusableConfig(f"config.json cannot be read: {exc}") from exc
    if not isinstance(config, dict):
        raise UnusableConfig("config.json cannot be read: it is not a JSON object")
    return config


def family_at_hand(model: str) -> Family | None:
    """The family of ``model`` when its config.json is on this machine (never downloads).

    ``UnsupportedModelFamily`` for a family clipvec cannot run: every entry point asks this
    before torch is imported or a weight is read. None: not here yet, or no readable
    config.json; the load (``resolve_model``) then says why with the ways out.
    """
    folder = local_folder(model)
    if folder is None:
        return None
    try:
        config = _parsed_config(folder)
    except UnusableConfig:
        return None
    return family_of(config, shown_checkpoint(folder))


def looks_like_path(model: str) -> bool:
    """A folder path rather than a hub id ("org/name"): then a missing folder is not looked up on the hub."""
    return model.startswith(("/", "./", "../", "~", ".")) or model.count("/") > 1 or "\\" in model


def _safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file cannot be loaded (cut short, not safetensors), or None."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            if header_len > size - 8 or header_len > 100_000_000:
                return f"{path.name} is not a safetensors file (or is cut short)"
            header = json.loads(f.read(header_len))
    except (OSError, struct.error, ValueError) as exc:
        return f"{path.name} cannot be read: {exc}"
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + header_len + end > size:
        return f"{path.name} is cut short ({size} of {8 + header_len + end} bytes)"
    return None


def folder_problems(folder: Path) -> list[str]:
    """What a checkpoint folder lacks (empty when it looks loadable).

    ``UnsupportedModelFamily`` first, for another family's checkpoint: its files are not looked at.
    """
    if not folder.is_dir():
        return [f"{folder} is not a folder"]
    problems: list[str] = []
    try:
        read_model_config(folder)
    except UnusableConfig as exc:
        problems.append(str(exc))
    weights = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]
    if not weights:
        problems.append("no weights (model.safetensors or pytorch_model.bin)")
    elif weights[0].suffix == ".safetensors" and (why := _safetensors_problem(weights[0])):
        problems.append(why)
    elif weights[0].name == "pytorch_model.bin" and not zipfile.is_zipfile(weights[0]):
        problems.append("pytorch_model.bin is not a PyTorch checkpoint (or is cut short)")
    has_tokenizer = (
        (folder / "tokenizer.json").is_file()
        or ((folder / "vocab.json").is_file() and (folder / "merges.txt").is_file())
        or (folder / "vocab.txt").is_file()
        or any(folder.glob("*.model"))
    )
    if not has_tokenizer:
        problems.append(f"no tokenizer files ({TOKENIZER_FILES})")
    return problems


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _hub_address() -> tuple[str, int]:
    """(host, port) a download connects to first: the HTTPS proxy if one is set, else the hub."""
    from huggingface_hub import constants

    url = urlsplit(constants.ENDPOINT)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        if proxy := os.environ.get(name):
            url = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            break
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.hostname or "", port


def hub_unreachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> str | None:
    """Why the hub cannot be reached (no name lookup, no connection within ``timeout``), or None.

    The name lookup runs in a thread because ``getaddrinfo`` has no timeout of its own.
    """
    host, port = _hub_address()
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(f"{host}:{port}: {exc.strerror or exc}")

    thread = threading.Thread(target=probe, name="clipvec-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return outcome[0] if outcome else f"{host}:{port}: no answer within {timeout:.0f} s"


def hub_snapshot_folder(model: str) -> Path | None:
    """Local cache folder of a hub checkpoint, if it is cached (never downloads)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, local_files_only=True))
    except Exception as exc:  # noqa: BLE001 - any failure means "not in the local cache"
        log.debug("no local snapshot for %s: %s", model, exc)
        return None


def local_folder(model: str) -> Path | None:
    """The folder of ``model`` already on this machine (the folder itself, or its hub cache), or None."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        return folder
    if folder.exists() or looks_like_path(model):
        return None
    return hub_snapshot_folder(model)


def resolve_model(model: str) -> Path:
    """The local folder of ``model`` (a folder, or a hub id cached or downloaded now).

    Raises ``ModelLoadError`` with a message that says what to do.
    """
    local = Path(model).expanduser()
    if local.is_dir():
        if problems := folder_problems(local):
            raise ModelLoadError(
                model_help(
                    model, f"the folder {local} is not a usable CLIP checkpoint: " + "; ".join(problems)
                )
            )
        return local
    if local.exists() or looks_like_path(model):
        raise ModelLoadError(model_help(model, f"there is no folder {local}"))

    cached = hub_snapshot_folder(model)
    if cached is not None and not folder_problems(cached):
        return cached
    if _hub_offline():
        raise ModelLoadError(
            model_help(
                model,
                "it is not a local folder, it is not in the Hugging Face cache, and the hub is "
                "switched off (HF_HUB_OFFLINE is set)",
            )
        )
    if (unreachable := hub_unreachable()) is not None:  # fail in a second, not after 30 s of retries
        raise ModelLoadError(
            model_help(
                model,
                "it is not a local folder, it is not in the Hugging Face cache, and the hub "
                f"cannot be reached ({unreachable})",
            )
        )
    # config.json first: another family's checkpoint is refused before its weights are fetched.
    with contextlib.suppress(UnusableConfig):  # none, or unreadable: said with the rest below
        family_of(_parsed_config(_download(model, ["config.json"])), model)
    folder = _download(model, _HUB_PATTERNS)
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        folder = _download(model, _HUB_PATTERNS + ["pytorch_model.bin*"])
    if problems := folder_problems(folder):
        raise ModelLoadError(
            model_help(model, "the downloaded checkpoint is incomplete: " + "; ".join(problems))
        )
    return folder


def _download(model: str, patterns: list[str]) -> Path:
    """The hub snapshot of ``model`` with the files matching ``patterns``; ``ModelLoadError`` if none."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model, allow_patterns=patterns))
    except Exception as exc:  # noqa: BLE001 - network, auth, unknown repo: all end in the same advice
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            model_help(model, f"it is not a local folder and the Hugging Face hub gave no copy ({reason})")
        ) from exc
