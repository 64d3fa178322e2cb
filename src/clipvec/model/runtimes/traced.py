"""The torch runtime on a CPU, started from a TorchScript trace of the model: no transformers import.

Importing transformers' model code (``CLIPModel`` and what it pulls in) takes ~2.6 s of every
start of a 2-core machine, more than torch itself (issue 20.1). So the first start of a
checkpoint loads it through transformers as always, and then keeps a trace of its two towers,
made at the precision it runs (bf16: the matmul weights stored in bf16 and autocast's casts
recorded in the graph; fp32), in the export cache (``cache.py``: keyed to the checkpoint's
content, atomic, verified). Later starts load that trace with torch alone and tokenize with the
``tokenizers`` library: the same ops on the same weights, so the same vectors to the bit
(tests/unit/model/test_traced.py).

A trace that is missing, damaged, made by another torch, or cannot be written (a read-only or
full cache) means transformers' model, as before: never a failed start. The GPU runs
transformers' model; ``CLIPVEC_TORCH_TRACE=false`` turns traces off.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from clipvec.model.runtimes import cache
from clipvec.model.runtimes.sessions import ExportedTowers
from clipvec.model.runtimes.tokens import FastTokens, TransformersTokens, load_tokens

log = logging.getLogger(__name__)

RUNTIME = "torch"
TRACE_FILE = "towers.pt"
TRACED_PRECISIONS = ("bf16", "fp32")  # what a CPU runs (fp16 is the GPU's)


class TracedTowers(ExportedTowers):
    """The trace's two methods: ``forward`` (pixels) and ``text`` (ids, mask); torch in, unit rows out."""

    def __init__(
        self, folder: Path, manifest: dict[str, Any], tokens: FastTokens | TransformersTokens
    ) -> None:
        super().__init__(manifest, tokens)
        import torch

        with warnings.catch_warnings():
            # torch 2.9+ calls TorchScript deprecated (for torch.export, whose load imports the
            # compiler stack this module avoids); it still runs it. A torch without it fails
            # here, and the model starts through transformers (``load_trace``).
            warnings.simplefilter("ignore", DeprecationWarning)
            self._module = torch.jit.load(str(folder / TRACE_FILE), map_location="cpu")

    def image_vectors(self, pixels: np.ndarray) -> np.ndarray:
        import torch

        from clipvec.model.towers import normalised

        with torch.inference_mode():
            return normalised(self._module(torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))))

    def text_vectors(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        from clipvec.model.towers import normalised

        with torch.inference_mode():
            return normalised(self._module.text(torch.from_numpy(input_ids), torch.from_numpy(mask)))


def traced_towers(
    facts: Any, device: str, precision: str, threads: int, cache_root: Path
) -> tuple[TracedTowers, str, str] | None:
    """(towers, precision, content id) of the checkpoint ``facts`` describe, from its trace.

    None when it has none here, or runs elsewhere than on the CPU or in a precision not traced.
    """
    import torch

    from clipvec.model.device import resolve_device, resolve_precision
    from clipvec.model.identity import content_id

    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    identity = content_id(facts.folder)
    if dev.type != "cpu" or prec not in TRACED_PRECISIONS or identity is None:
        return None
    if threads > 0:
        torch.set_num_threads(threads)
    started = time.perf_counter()
    towers = load_trace(cache_root, facts.folder, identity, prec)
    if towers is None:
        return None
    log.info(
        "loaded %s from its trace (%s, %d threads) in %.1fs",
        facts.name,
        prec,
        torch.get_num_threads(),
        time.perf_counter() - started,
    )
    return towers, prec, identity


def load_trace(cache_root: Path, checkpoint: Path, content_id: str, precision: str) -> TracedTowers | None:
    """The checkpoint's towers from its trace in the cache; None when there is no sound one.

    The trace's sha256 is checked while torch reads it; a damaged trace, or one made by another
    torch version, is removed (the caller loads the model and traces it again).
    """
    import torch

    folder = cache_root / cache.export_name(content_id, RUNTIME, precision)
    manifest, problem = cache.verified(
        folder, cache.manifest_key(content_id, RUNTIME, precision), hashes=False
    )
    if manifest is None:
        if folder.exists():
            _drop(folder, problem)
        return None
    if manifest.get("torch") != torch.__version__:
        _drop(folder, f"traced by torch {manifest.get('torch')}, this is {torch.__version__}")
        return None
    towers, problem, error = cache.open_checked(
        folder,
        manifest,
        lambda: TracedTowers(folder, manifest, load_tokens(folder, checkpoint, manifest["tokens"])),
    )
    if problem or towers is None:
        _drop(folder, problem or f"torch cannot load it: {type(error).__name__}: {error}")
        return None
    return towers


def keep_trace(encoder: Any, cache_root: Path, checkpoint: Path) -> None:
    """Trace ``encoder``'s towers into the cache, for the next start; a failure is a warning only."""
    identity = encoder.identity.content_id
    if identity is None or encoder.precision not in TRACED_PRECISIONS:
        return
    try:
        cache.cached_export(
            cache_root,
            checkpoint,
            identity,
            RUNTIME,
            encoder.precision,
            lambda _checkpoint, into, _runtime, _precision: _trace(encoder, into),
            hashes=False,
        )
    except Exception as exc:  # noqa: BLE001 - the model runs as it is; only later starts lose
        log.warning(
            "could not keep a traced copy of %s in %s (%s: %s); it starts through transformers "
            "each time (CLIPVEC_TORCH_TRACE=false stops trying)",
            encoder.shown_name,
            cache_root,
            type(exc).__name__,
            exc,
        )


def _trace(encoder: Any, into: Path) -> tuple[dict[str, Any], list[str]]:
    """Write the trace of ``encoder``'s towers (one module, the weights once) and its facts into ``into``."""
    import torch

    from clipvec.model.runtimes.export import TRACE_TEXTS, exported_facts

    towers = encoder._towers
    pre = encoder.preprocessor
    pixels = torch.zeros((2, 3, pre.crop_height, pre.crop_width), dtype=towers.pixel_dtype())
    ids, mask, _, _ = encoder.tokenize(list(TRACE_TEXTS))  # a padded batch: the mask stays in the graph

    class Towers(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = encoder.model  # registered: the weights are saved with the graph, once

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            return towers.image_features(pixel_values)

        def text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return towers.text_features(input_ids, attention_mask)

    bf16 = encoder.precision == "bf16"
    with (
        encoder._lock,
        warnings.catch_warnings(),
        torch.no_grad(),
        torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16),
    ):
        warnings.simplefilter("ignore")  # the tracer's notes on Python values it keeps as constants
        module = torch.jit.trace_module(
            Towers().eval(), {"forward": (pixels,), "text": (ids, mask)}, check_trace=False
        )
        module.save(str(into / TRACE_FILE))
    return {**exported_facts(encoder, into), "torch": torch.__version__}, [TRACE_FILE]


def _drop(folder: Path, problem: str) -> None:
    try:
        cache.discard(folder, problem)
    except OSError as exc:  # a read-only cache: it stays, and is not used
        log.warning("cannot remove the damaged trace %s: %s", folder, exc)
