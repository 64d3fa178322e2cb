"""An exported model's two towers run by ONNX Runtime or OpenVINO: numpy in, unit vectors out.

The encoder (``model/encoder.py``) serialises the calls, as it does torch's: each runtime is
given the process's thread count and uses all of it. Neither imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from clipvec.model.runtimes.tokens import FastTokens, Tokens, TransformersTokens


def unit(features: np.ndarray) -> np.ndarray:
    """Float32 rows scaled to length 1 (as the torch path's ``towers.normalised``)."""
    v = np.asarray(features, dtype=np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def both_towers(make: Callable[[str], Any]) -> dict[str, Any]:
    """``make("image")`` and ``make("text")`` at once: each runtime optimises a graph mostly on one
    core (a second or more for ViT-B/32), so two threads halve that part of the start-up."""
    with ThreadPoolExecutor(2, thread_name_prefix="clipvec-runtime-load") as pool:
        futures = {tower: pool.submit(make, tower) for tower in ("image", "text")}
        return {tower: future.result() for tower, future in futures.items()}


class ExportedTowers:
    """What the encoder asks of a runtime: dim, token limit, tokenize, image and text vectors."""

    def __init__(self, manifest: dict[str, Any], tokens: FastTokens | TransformersTokens) -> None:
        self.dim: int = int(manifest["dim"])
        self.context_length: int = int(manifest["context_length"])
        self.tokens = tokens

    def tokenize(self, texts: Sequence[str]) -> Tokens:
        return self.tokens.tokenize(texts)

    def image_vectors(self, pixels: np.ndarray) -> np.ndarray:
        return unit(self._run("image", {"pixel_values": np.ascontiguousarray(pixels, dtype=np.float32)}))

    def text_vectors(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return unit(self._run("text", {"input_ids": input_ids, "attention_mask": mask}))

    def _run(self, tower: str, inputs: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError


class OnnxRuntimeTowers(ExportedTowers):
    def __init__(
        self, folder: Path, manifest: dict[str, Any], tokens: FastTokens | TransformersTokens, threads: int
    ) -> None:
        super().__init__(manifest, tokens)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # its warnings about unused initialisers are not the user's
        self._sessions = {
            tower: ort.InferenceSession(
                str(folder / f"{tower}.onnx"), options, providers=["CPUExecutionProvider"]
            )
            for tower in ("image", "text")
        }

    def _run(self, tower: str, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return self._sessions[tower].run(None, inputs)[0]


class OpenVinoTowers(ExportedTowers):
    def __init__(
        self,
        folder: Path,
        manifest: dict[str, Any],
        tokens: FastTokens | TransformersTokens,
        threads: int,
        precision: str,
    ) -> None:
        super().__init__(manifest, tokens)
        import openvino as ov

        core = ov.Core()
        # OpenVINO computes in bf16 by default on CPUs that have it: fp32 and int8 (weights only)
        # must say f32, or they would not be what they claim.
        config = {
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
        }
        self._requests = both_towers(
            lambda tower: core.compile_model(
                str(folder / f"{tower}.xml"), "CPU", config
            ).create_infer_request()
        )

    def _run(self, tower: str, inputs: dict[str, np.ndarray]) -> np.ndarray:
        request = self._requests[tower]
        request.infer(inputs)
        return np.array(request.get_output_tensor(0).data, copy=True)
