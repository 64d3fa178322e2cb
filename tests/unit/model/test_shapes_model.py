"""The committed shapes CLIP (tests/assets/shapes-clip) ranks by meaning, loaded with plain transformers.

Images are fresh (held-out seeds never used in training); see tools/train_shapes_clip.py.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from clipvec.model.shapes import HELD_OUT_SEED_START, SHAPES_MODEL, caption, classes, draw_shape

MODEL_DIR = SHAPES_MODEL
PER_CLASS = 2
SEED_BASE = HELD_OUT_SEED_START + 7_000_000


def _features(out) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):  # transformers 5 returns a ModelOutput
        out = out.pooler_output
    return F.normalize(out, dim=-1)


@pytest.fixture(scope="module")
def shapes_clip():
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    model = CLIPModel.from_pretrained(MODEL_DIR, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(MODEL_DIR), CLIPImageProcessor.from_pretrained(MODEL_DIR)


@pytest.fixture(scope="module")
def held_out(shapes_clip):
    """(image embeddings, labels, caption embeddings): PER_CLASS fresh images per class."""
    model, tokenizer, processor = shapes_clip
    cls = classes()
    images, labels = [], []
    for k in range(PER_CLASS):
        for label, (color, shape) in enumerate(cls):
            images.append(draw_shape(color, shape, seed=SEED_BASE + k * len(cls) + label))
            labels.append(label)
    with torch.no_grad():
        pixels = processor(images=images, return_tensors="pt")["pixel_values"]
        img = _features(model.get_image_features(pixel_values=pixels))
        tok = tokenizer([caption(c, s) for c, s in cls], padding=True, return_tensors="pt")
        txt = _features(model.get_text_features(**tok))
    return img, torch.tensor(labels), txt


def test_folder_is_small_and_complete():
    names = {p.name for p in MODEL_DIR.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json"} <= names
    assert sum(p.stat().st_size for p in MODEL_DIR.iterdir()) < 4_000_000


def test_reduced_tokenizer_matches_openai(shapes_clip):
    from clipvec.model.factory import build_tokenizer

    model, tokenizer, _ = shapes_clip
    full = build_tokenizer()
    for text in ("a red circle", "a photo of a purple triangle", "orange cross", "Yellow  STAR"):
        ours = tokenizer(text)["input_ids"]
        assert tokenizer.convert_ids_to_tokens(ours) == full.convert_ids_to_tokens(full(text)["input_ids"])
        assert ours[-1] == model.config.text_config.eos_token_id
    assert len(tokenizer) == model.config.text_config.vocab_size


def test_preprocessor_is_clip_64px(shapes_clip):
    _, _, processor = shapes_clip
    assert processor.size == {"shortest_edge": 64}
    assert processor.crop_size == {"height": 64, "width": 64}
    assert processor.image_mean == pytest.approx([0.48145466, 0.4578275, 0.40821073])
    assert processor.image_std == pytest.approx([0.26862954, 0.26130258, 0.27577711])


def test_text_to_image_ranks_the_right_class_first(held_out):
    img, labels, txt = held_out
    top1 = labels[(txt @ img.T).argmax(dim=1)]
    accuracy = (top1 == torch.arange(len(txt))).float().mean().item()
    assert accuracy >= 0.9, f"text->image top-1 class accuracy {accuracy:.2f}"


def test_a_red_circle_finds_red_circles(held_out):
    img, labels, txt = held_out
    red_circle = classes().index(("red", "circle"))
    ranking = (txt[red_circle] @ img.T).argsort(descending=True)
    assert labels[ranking[0]] == red_circle
    assert (labels[ranking[:PER_CLASS]] == red_circle).all()


def test_image_to_text_and_image_to_image(held_out):
    img, labels, txt = held_out
    zero_shot = ((img @ txt.T).argmax(dim=1) == labels).float().mean().item()
    sim = img @ img.T
    sim.fill_diagonal_(-2)
    neighbour = (labels[sim.argmax(dim=1)] == labels).float().mean().item()
    assert zero_shot >= 0.9, f"image->text top-1 {zero_shot:.2f}"
    assert neighbour >= 0.9, f"image->image nearest neighbour {neighbour:.2f}"
