"""model/weights.py: the bf16 model read tensor by tensor is the one the conversion gave (issue 20.2)."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from clipvec.model.encoder import ClipEncoder
from clipvec.model.weights import bf16_if_matmul, reload_in_serving_dtype, store_matmul_weights_in_bf16


def _loaded(folder: Path) -> torch.nn.Module:
    from transformers import CLIPModel

    return CLIPModel.from_pretrained(str(folder), dtype=torch.float32).eval()


def _converted_as_before(folder: Path) -> torch.nn.Module:
    """The conversion of the loaded tensors, as clipvec did it before the re-read."""
    model = _loaded(folder)
    store_matmul_weights_in_bf16(model)  # no folder: converts what from_pretrained loaded
    return model


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert sa[key].dtype == sb[key].dtype, key
        assert torch.equal(sa[key], sb[key]), key


def test_reread_gives_the_converted_weights_bit_for_bit(tiny_model_dir):
    reread = _loaded(tiny_model_dir)
    assert reload_in_serving_dtype(reread, tiny_model_dir, bf16_if_matmul)
    _same_state(reread, _converted_as_before(tiny_model_dir))
    assert reread.vision_model.encoder.layers[0].mlp.fc1.weight.dtype == torch.bfloat16
    assert reread.vision_model.encoder.layers[0].mlp.fc1.bias.dtype == torch.bfloat16
    assert reread.text_model.embeddings.token_embedding.weight.dtype == torch.float32
    assert reread.vision_model.post_layernorm.weight.dtype == torch.float32


def test_bf16_encoder_vectors_unchanged(tiny_model_dir):
    """The encoder's bf16 load (re-read) gives the vectors of the converted model."""
    encoder = ClipEncoder.load(str(tiny_model_dir), device="cpu", precision="bf16")
    assert encoder.model.vision_model.encoder.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16
    before = _converted_as_before(tiny_model_dir)
    pixels = np.random.default_rng(0).standard_normal((3, 3, 224, 224)).astype(np.float32)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = before.visual_projection(
            before.vision_model(pixel_values=torch.from_numpy(pixels)).pooler_output
        )
    expected = (out.float() / out.float().norm(dim=-1, keepdim=True)).numpy()
    np.testing.assert_array_equal(encoder.encode_pixels(pixels), expected)


def _rewrite_header(src: Path, dst: Path, change) -> Path:
    """A copy of the checkpoint whose safetensors header went through ``change``."""
    shutil.copytree(src, dst)
    path = dst / "model.safetensors"
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    change(header)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (length - len(text))  # same length: the data offsets stay right
    assert len(text) == length
    path.write_bytes(data[:8] + text + data[8 + length :])
    return dst


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda h: h.pop("visual_projection.weight"), id="a tensor missing"),
        pytest.param(
            lambda h: h.__setitem__(
                "visual_projection.weight",
                {
                    **h["visual_projection.weight"],
                    "data_offsets": h["text_projection.weight"]["data_offsets"],
                },
            ),
            id="other values than loaded",
        ),
    ],
)
def test_a_file_it_cannot_follow_changes_nothing(tiny_model_dir, tmp_path, change):
    folder = _rewrite_header(tiny_model_dir, tmp_path / "ckpt", change)
    model = _loaded(tiny_model_dir)  # the values of the unchanged file
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert not reload_in_serving_dtype(model, folder, bf16_if_matmul)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) and before[k].dtype == after[k].dtype for k in before)


def test_no_safetensors_file_is_left_to_the_conversion(tiny_model_dir, tmp_path):
    model = _loaded(tiny_model_dir)
    assert not reload_in_serving_dtype(model, tmp_path, bf16_if_matmul)
