"""The one message for a model that cannot load: what went wrong, and the ways out.

Every path that gives up on a model (start-up's check, the encoder, the facts a Ray import
needs) says it in these words, so a newcomer sees the same ways out whatever they ran.
"""

from __future__ import annotations

from pathlib import Path


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def model_help(model: str, why: str) -> str:
    """The one message for a model that cannot load: what went wrong and the three ways out."""
    # Here, not at the top: the shapes module draws with numpy, which a CLI that only checks
    # the model before handing over to BentoML need not import.
    from clipvec.model.shapes import SHAPES_MODEL

    why = why.strip().rstrip(".")
    lines = [
        f"cannot load the CLIP model {model!r}: {why}.",
        "Ways out (the same for clipvec serve, bentoml serve, or --model on any clipvec command):",
        "  - a CLIP checkpoint folder you have:        CLIPVEC_MODEL=/path/to/clip-vit-base-patch32 make run",
        "  - a random-weight ViT-B/32 (no meaning):    clipvec make-model ./random-clip && CLIPVEC_MODEL=./random-clip make run",
    ]
    if SHAPES_MODEL.is_dir():
        lines.append(
            f"  - a small CLIP that really searches shapes: CLIPVEC_MODEL={_shown(SHAPES_MODEL)} make run   (or: make demo)"
        )
    lines.append("Online, CLIPVEC_MODEL may also be a Hugging Face id (downloaded once, then cached).")
    return "\n".join(lines)
