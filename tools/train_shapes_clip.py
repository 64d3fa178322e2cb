"""Train the small "coloured shapes" CLIP committed in tests/assets/shapes-clip.

Tests need a CLIP whose embeddings mean something (the right image next to the right text),
which random weights cannot show. This trains a tiny CLIPModel from scratch, on CPU, on the
synthetic domain of src/clipvec/model/shapes.py ("a red circle"), and saves a checkpoint folder with the
same layout as a hub model (weights, config, tokenizer, image processor):

    .venv/bin/python tools/train_shapes_clip.py --out tests/assets/shapes-clip

The tokenizer is OpenAI's CLIP BPE reduced to the domain: the 512 byte-level base symbols,
the merges needed for the domain words (in their original order) and the two special tokens,
so the token embedding has a few hundred rows instead of 49408. Images go through
``CLIPImageProcessor`` exactly as in production (shortest side bicubic to 64, centre crop,
OpenAI mean/std), and the processor is saved next to the model.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from clipvec.model.shapes import (
    COLORS,
    HELD_OUT_SEED_START,
    SHAPES,
    SHAPES_MODEL,
    TEMPLATES,
    caption,
    classes,
    draw_shape,
)

REPO_ROOT = Path(__file__).resolve().parent.parent

IMAGE_SIZE = 64
DRAW_SIZES = (64, 80, 96, 112, 128, 160)


# --------------------------------------------------------------------------- tokenizer
def _bpe_merges_used(word: str, ranks: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    """The merges OpenAI's BPE applies to one (lower-case, byte-mapped) word."""
    parts = [*word[:-1], word[-1] + "</w>"]
    used = []
    while len(parts) > 1:
        pairs = {(a, b) for a, b in zip(parts, parts[1:], strict=False)}
        best = min(pairs, key=lambda p: ranks.get(p, math.inf))
        if best not in ranks:
            break
        used.append(best)
        merged, i = [], 0
        while i < len(parts):
            if i < len(parts) - 1 and (parts[i], parts[i + 1]) == best:
                merged.append(parts[i] + parts[i + 1])
                i += 2
            else:
                merged.append(parts[i])
                i += 1
        parts = merged
    return used


def build_reduced_tokenizer(words: list[str]):
    """OpenAI's CLIP tokenizer keeping only what ``words`` need (byte alphabet, their merges, specials).

    A word outside ``words`` still tokenizes (into smaller pieces, down to single bytes), so
    no text is ever unknown; domain words give exactly the full tokenizer's token strings.
    """
    from transformers import CLIPTokenizer

    from clipvec.model.factory import CONTEXT_LENGTH, _bytes_to_unicode, _vocab_and_merges

    _, merges = _vocab_and_merges()
    ranks = {m: i for i, m in enumerate(merges)}
    byte_map = _bytes_to_unicode()
    needed: set[tuple[str, str]] = set()
    for word in words:
        mapped = "".join(byte_map[b] for b in word.lower().encode("utf-8"))
        needed.update(_bpe_merges_used(mapped, ranks))
    kept = [m for m in merges if m in needed]  # original order = original priority
    alphabet = list(byte_map.values())
    tokens = alphabet + [a + "</w>" for a in alphabet] + ["".join(m) for m in kept]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(tokens)}
    assert len(vocab) == len(tokens), "duplicate token"
    return CLIPTokenizer(vocab=vocab, merges=kept, model_max_length=CONTEXT_LENGTH)


def domain_words() -> list[str]:
    words = set(COLORS) | set(SHAPES)
    for template in TEMPLATES:
        words.update(w for w in template.split() if not w.startswith("{"))
    return sorted(words)


# --------------------------------------------------------------------------- data
def make_processor():
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        do_resize=True,
        do_center_crop=True,
    )


def generate(
    per_class: int, seed_base: int, processor, sizes=DRAW_SIZES
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images of every class, resized and cropped by ``processor`` (not yet normalized), as uint8.

    Normalization is done later in torch with the processor's own mean/std: identical to what
    the processor outputs (checked in ``check_preprocessing``), at a quarter of the memory.
    """
    cls = classes()
    images, labels = [], []
    for k in range(per_class):
        for label, (color, shape) in enumerate(cls):
            seed = seed_base + k * len(cls) + label
            size = sizes[seed % len(sizes)]
            images.append(draw_shape(color, shape, size=size, seed=seed))
            labels.append(label)
    chunks = []
    for i in range(0, len(images), 512):
        px = processor(images=images[i : i + 512], do_rescale=False, do_normalize=False, return_tensors="pt")
        chunks.append(px["pixel_values"].round().clamp(0, 255).to(torch.uint8))
    return torch.cat(chunks), torch.tensor(labels)


class Normalizer:
    def __init__(self, processor):
        self.mean = torch.tensor(processor.image_mean).view(1, 3, 1, 1)
        self.std = torch.tensor(processor.image_std).view(1, 3, 1, 1)
        self.scale = float(processor.rescale_factor)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() * self.scale - self.mean) / self.std


def check_preprocessing(processor, normalize: Normalizer) -> None:
    imgs = [draw_shape("red", "star", size=s, seed=HELD_OUT_SEED_START - 1 - s) for s in DRAW_SIZES]
    ref = processor(images=imgs, return_tensors="pt")["pixel_values"]
    raw = processor(images=imgs, do_rescale=False, do_normalize=False, return_tensors="pt")["pixel_values"]
    ours = normalize(raw.round().clamp(0, 255).to(torch.uint8))
    err = (ours - ref).abs().max().item()
    assert err < 1e-5, f"training preprocessing differs from CLIPImageProcessor by {err}"


# --------------------------------------------------------------------------- model
def make_config(vocab_size: int, bos_id: int, eos_id: int, pad_id: int):
    from transformers import CLIPConfig

    from clipvec.model.factory import CONTEXT_LENGTH

    ids = {"bos_token_id": bos_id, "eos_token_id": eos_id, "pad_token_id": pad_id}
    return CLIPConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": 64,
            "intermediate_size": 256,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": CONTEXT_LENGTH,
            **ids,
        },
        vision_config={
            "hidden_size": 96,
            "intermediate_size": 384,
            "num_hidden_layers": 3,
            "num_attention_heads": 4,
            "image_size": IMAGE_SIZE,
            "patch_size": 16,
        },
        projection_dim=64,
        **ids,
    )


def embed(model, pixel_values=None, input_ids=None, attention_mask=None) -> torch.Tensor:
    if pixel_values is not None:
        out = model.get_image_features(pixel_values=pixel_values)
    else:
        out = model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
    if not isinstance(out, torch.Tensor):  # transformers 5 may return a ModelOutput
        out = out.pooler_output
    return F.normalize(out, dim=-1)


@torch.no_grad()
def evaluate(model, tokenizer, images: torch.Tensor, labels: torch.Tensor, normalize) -> dict[str, float]:
    """Held-out accuracies by class: text->image top-1, image->text top-1, image->image nearest neighbour."""
    model.eval()
    cls = classes()
    img = torch.cat(
        [embed(model, pixel_values=normalize(images[i : i + 256])) for i in range(0, len(images), 256)]
    )
    result = {}
    t2i, i2t = [], []
    for template in range(len(TEMPLATES)):
        tok = tokenizer([caption(c, s, template) for c, s in cls], padding=True, return_tensors="pt")
        txt = embed(model, input_ids=tok["input_ids"], attention_mask=tok["attention_mask"])
        sim = txt @ img.T  # (classes, images)
        t2i.append((labels[sim.argmax(dim=1)] == torch.arange(len(cls))).float().mean().item())
        i2t.append((sim.argmax(dim=0) == labels).float().mean().item())
        # R-precision: of each caption's top-k images (k = images per class), the share of the right class.
        k = int((labels == 0).sum())
        top = sim.topk(k, dim=1).indices
        result[f"t2i_rprec_t{template}"] = (
            (labels[top] == torch.arange(len(cls))[:, None]).float().mean().item()
        )
    result["t2i_top1"] = float(np.mean(t2i))
    result["i2t_top1"] = float(np.mean(i2t))
    result["t2i_rprec"] = float(np.mean([result.pop(f"t2i_rprec_t{t}") for t in range(len(TEMPLATES))]))
    sim = img @ img.T
    sim.fill_diagonal_(-2)
    result["i2i_nn"] = (labels[sim.argmax(dim=1)] == labels).float().mean().item()
    model.train()
    return result


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=SHAPES_MODEL)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument(
        "--train-per-class", type=int, default=800, help="training images per (colour, shape) class"
    )
    ap.add_argument("--eval-per-class", type=int, default=20, help="held-out images per class")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--dtype", choices=["float32", "float16"], default="float32", help="saved weights")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    t0 = time.time()

    from transformers import CLIPModel

    tokenizer = build_reduced_tokenizer(domain_words())
    bos, eos, pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    print(f"tokenizer: {len(tokenizer)} tokens (bos {bos}, eos {eos}, pad {pad})")
    config = make_config(len(tokenizer), bos, eos, pad)
    model = CLIPModel(config)
    model.train()
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")

    processor = make_processor()
    normalize = Normalizer(processor)
    check_preprocessing(processor, normalize)
    # Training seeds: [seed * 1e6, ...) below HELD_OUT_SEED_START; held-out: from HELD_OUT_SEED_START.
    train_base = args.seed * 1_000_000
    assert train_base + args.train_per_class * len(classes()) < HELD_OUT_SEED_START
    x_train, y_train = generate(args.train_per_class, train_base, processor)
    x_eval, y_eval = generate(args.eval_per_class, HELD_OUT_SEED_START, processor)
    print(f"data: {len(x_train)} train / {len(x_eval)} held-out images in {time.time() - t0:.0f}s")

    # Every caption of every class, tokenized once: (classes, templates, length).
    cls = classes()
    texts = [caption(c, s, t) for c, s in cls for t in range(len(TEMPLATES))]
    tok = tokenizer(texts, padding=True, return_tensors="pt")
    ids = tok["input_ids"].view(len(cls), len(TEMPLATES), -1)
    mask = tok["attention_mask"].view(len(cls), len(TEMPLATES), -1)

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.98),
        eps=1e-6,
    )
    warmup = max(1, args.steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, args.steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    gen = torch.Generator().manual_seed(args.seed)
    t_train = time.time()
    for step in range(args.steps):
        idx = torch.randint(len(x_train), (args.batch_size,), generator=gen)
        y = y_train[idx]
        px = x_train[idx]
        flip = torch.rand(len(idx), generator=gen) < 0.5  # every shape here is left-right symmetric
        px = torch.where(flip[:, None, None, None], px.flip(-1), px)
        tpl = torch.randint(len(TEMPLATES), (len(idx),), generator=gen)
        img = embed(model, pixel_values=normalize(px))
        txt = embed(model, input_ids=ids[y, tpl], attention_mask=mask[y, tpl])
        logits = model.logit_scale.exp().clamp(max=100) * img @ txt.T
        # Several pairs in a batch share a class: all of them are positives (soft InfoNCE targets).
        same = (y[:, None] == y[None, :]).float()
        target = same / same.sum(dim=1, keepdim=True)
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if step % 100 == 0 or step == args.steps - 1:
            line = f"step {step:5d} loss {loss.item():.4f} scale {model.logit_scale.exp().item():5.1f}"
            line += f" lr {sched.get_last_lr()[0]:.2e} {time.time() - t_train:5.0f}s"
            if step % 500 == 0 or step == args.steps - 1:
                acc = evaluate(model, tokenizer, x_eval, y_eval, normalize)
                line += " | " + " ".join(f"{k} {v:.3f}" for k, v in acc.items())
            print(line, flush=True)
    train_s = time.time() - t_train

    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    model.to(getattr(torch, args.dtype)).save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    processor.save_pretrained(args.out)

    # Final check on what was written, loaded the way production loads it, in float32,
    # on a fresh held-out set at the default drawing size.
    from transformers import AutoTokenizer, CLIPImageProcessor

    from clipvec.model.factory import build_tokenizer

    loaded = CLIPModel.from_pretrained(args.out, dtype=torch.float32).eval()
    ltok = AutoTokenizer.from_pretrained(args.out)
    lproc = CLIPImageProcessor.from_pretrained(args.out)
    full = build_tokenizer()
    for text in texts:
        a = ltok.convert_ids_to_tokens(ltok(text)["input_ids"])
        b = full.convert_ids_to_tokens(full(text)["input_ids"])
        assert a == b, f"reduced tokenizer differs on {text!r}: {a} vs {b}"
    assert ltok("a red circle")["input_ids"][-1] == loaded.config.text_config.eos_token_id
    x_final, y_final = generate(args.eval_per_class, HELD_OUT_SEED_START + 5_000_000, lproc, sizes=(96,))
    final = evaluate(loaded, ltok, x_final, y_final, Normalizer(lproc))
    total_s = time.time() - t0
    write_readme(args, config, len(tokenizer), final, len(x_final), train_s, total_s)
    print(f"trained {args.steps} steps in {train_s:.0f}s (total {total_s:.0f}s); saved to {args.out}")
    print("held-out (reloaded, float32): " + " ".join(f"{k} {v:.3f}" for k, v in final.items()))
    return 0


def write_readme(
    args, config, vocab: int, acc: dict[str, float], n_eval: int, train_s: float, total_s: float
):
    v, t = config.vision_config, config.text_config
    try:
        out = args.out.resolve().relative_to(REPO_ROOT)
    except ValueError:
        out = args.out
    cmd = f".venv/bin/python tools/train_shapes_clip.py --out {out}"
    defaults = {"steps": 3000, "batch_size": 128, "seed": 0, "train_per_class": 800}
    extra = [
        f"--{k.replace('_', '-')} {getattr(args, k)}" for k, d in defaults.items() if getattr(args, k) != d
    ]
    text = f"""# shapes-clip: a tiny CLIP trained on coloured shapes

Test fixture, not a real model. It knows {len(COLORS)} colours ({", ".join(COLORS)}) and
{len(SHAPES)} shapes ({", ".join(SHAPES)}): captions like "a red circle",
"a photo of a red circle", "red circle", images drawn by `src/clipvec/model/shapes.py`.

Trained from scratch on CPU ({args.threads} thread) with:

    {" ".join([cmd, *extra])}

- seed {args.seed}; {args.train_per_class} training images per class ({args.train_per_class * len(classes())} in all),
  {args.steps} steps of batch {args.batch_size}, AdamW lr {args.lr} (warmup + cosine), weight decay
  {args.weight_decay}; symmetric InfoNCE with a learnable logit scale, same-class pairs in a batch
  counted as positives; random left-right flips. Training took {train_s:.0f}s ({total_s:.0f}s in all).
- Vision: ViT, {v.image_size}px input, patch {v.patch_size}, hidden {v.hidden_size},
  {v.num_hidden_layers} layers, {v.num_attention_heads} heads. Text: hidden {t.hidden_size},
  {t.num_hidden_layers} layers, {t.num_attention_heads} heads, context {t.max_position_embeddings}.
  Projection {config.projection_dim}-d. Weights saved in {args.dtype}.
- Tokenizer: OpenAI's CLIP BPE reduced to {vocab} tokens (the 512 byte-level symbols, the merges
  the domain words need, in their original order, and `<|startoftext|>` / `<|endoftext|>` as
  ids {t.bos_token_id} / {t.eos_token_id}); domain words give the same tokens as the full vocabulary,
  other words fall back to smaller pieces.
- Images: `CLIPImageProcessor` (saved here): shortest side bicubic to 64, centre crop 64x64,
  OpenAI CLIP mean/std. Training fed exactly its output.

Held-out accuracy by class ({n_eval} fresh images at 96px, seeds never used in training,
reloaded in float32):

| text->image top-1 | image->text top-1 | text->image R-precision | image->image nearest neighbour |
|---|---|---|---|
| {acc["t2i_top1"]:.3f} | {acc["i2t_top1"]:.3f} | {acc["t2i_rprec"]:.3f} | {acc["i2i_nn"]:.3f} |

Text->image: share of the class captions (all three templates) whose best image has their class;
image->text: share of images whose best caption is their class; R-precision: share of the right
class among each caption's top {n_eval // len(classes())} images; nearest neighbour: share of images whose most similar
other image has their class. Checked by `tests/unit/model/test_shapes_model.py`.
"""
    (args.out / "README.md").write_text(text)


if __name__ == "__main__":
    sys.exit(main())
