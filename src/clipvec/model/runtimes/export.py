"""A checkpoint's two towers -> ONNX, exactly as ``model/towers.py`` calls them (then converted).

The graphs are traced through the family's own towers (CLIP: pooled output + projection; the
others: ``get_image_features`` / ``get_text_features``), so an exported model gives the vectors
of the torch fp32 path; clipvec's own preprocessing and tokenisation stay outside the graph.
Batch and sequence axes are dynamic. The text graph is traced on a padded batch: transformers
drops an all-ones attention mask from the graph, which would then ignore the padding.

Then, per runtime and precision (``convert``): ONNX Runtime fp32 runs the graphs as they are,
int8 is ONNX Runtime's dynamic quantisation of the MatMul/Gemm weights (activations quantised
per call); OpenVINO reads the ONNX graphs into its IR (fp32 weights; bf16 is a compile-time
hint, ``sessions.py``), int8 is NNCF's weight-only compression (INT8_ASYM, per channel).
Only this module imports torch and transformers; it runs once per checkpoint and precision.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from clipvec.model.runtimes.tokens import save_fast_tokenizer, token_facts

log = logging.getLogger(__name__)

OPSET = 17
IMAGE, TEXT = "image", "text"
# Texts the text graph is traced on: of different lengths, so the mask has zeros in it.
TRACE_TEXTS = ("a photo of a dog", "a cat")


def export_onnx(checkpoint: Path, into: Path) -> dict[str, Any]:
    """Write image.onnx, text.onnx (and tokenizer.json when it has one) of ``checkpoint`` into ``into``.

    Returns the facts a runtime needs without the checkpoint's code: dim, token limit, how
    texts are tokenised and the family's name.
    """
    import torch

    from clipvec.model.encoder import ClipEncoder

    encoder = ClipEncoder.load(str(checkpoint), device="cpu", precision="fp32")
    towers = encoder._towers
    pre = encoder.preprocessor
    pixels = torch.zeros((2, 3, pre.crop_height, pre.crop_width), dtype=torch.float32)
    ids, mask, _, _ = encoder.tokenize(list(TRACE_TEXTS))

    class ImageTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = encoder.model  # registered, so the weights are the graph's initializers

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            return towers.image_features(pixel_values)

    class TextTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = encoder.model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return towers.text_features(input_ids, attention_mask)

    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the tracer's notes on Python values it keeps as constants
        torch.onnx.export(
            ImageTower().eval(),
            (pixels,),
            str(into / f"{IMAGE}.onnx"),
            input_names=["pixel_values"],
            output_names=["features"],
            dynamic_axes={"pixel_values": {0: "batch"}, "features": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
        torch.onnx.export(
            TextTower().eval(),
            (ids, mask),
            str(into / f"{TEXT}.onnx"),
            input_names=["input_ids", "attention_mask"],
            output_names=["features"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "features": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    return exported_facts(encoder, into)


def exported_facts(encoder: Any, into: Path) -> dict[str, Any]:
    """What a runtime needs of the loaded ``encoder`` besides its graphs: dim, token limit, family,
    how its texts are tokenised (tokenizer.json written into ``into`` when it has one)."""
    fast = save_fast_tokenizer(encoder.tokenizer, into)
    return {
        "family": encoder.family.name,
        "dim": int(encoder.dim),
        "context_length": int(encoder.context_length),
        "tokens": token_facts(encoder._towers, encoder.family.name),
        "fast_tokenizer": fast,
    }


def convert(into: Path, runtime: str, precision: str) -> list[str]:
    """Turn the ONNX graphs in ``into`` into what ``runtime`` runs at ``precision``; the model files' names."""
    if runtime == "onnxruntime":
        if precision == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            for tower in (IMAGE, TEXT):
                source = into / f"{tower}.onnx"
                target = into / f"{tower}.int8.onnx"
                quantize_dynamic(
                    source, target, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"]
                )
                source.unlink()
                target.rename(source)
        return [f"{IMAGE}.onnx", f"{TEXT}.onnx"]
    import openvino as ov

    files = []
    for tower in (IMAGE, TEXT):
        source = into / f"{tower}.onnx"
        model = ov.convert_model(str(source))
        if precision == "int8":
            import nncf

            # Its tables and progress bars are not the user's business. Only its logger's level:
            # nncf.set_log_level also sets the level of every handler on that logger, which in a
            # process whose handlers are shared (pytest's capture) silenced everyone's warnings.
            logging.getLogger("nncf").setLevel(logging.ERROR)
            model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        ov.save_model(model, str(into / f"{tower}.xml"), compress_to_fp16=False)
        source.unlink()
        files += [f"{tower}.xml", f"{tower}.bin"]
    return files
