"""The one message for a model that cannot load: what went wrong, and the ways out.

Every path that gives up on a model (start-up's check, the encoder, the facts a Ray import
needs) says it in these words, so a newcomer sees the same ways out whatever they ran.
"""

from __future__ import annotations

from pathlib import Path

from clipvec.settings import CONFIG_FILE, config_path
from clipvec.shell import shown_command


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def model_help(model: str, why: str) -> str:
    """The one message for a model that cannot load: what went wrong and the three ways out.

    Each way out is a command that runs as printed from here (``.venv/bin/clipvec`` when the
    venv is not activated) and that sticks: ``clipvec init`` writes ``clipvec.toml``, which
    every entry point run in this folder reads (a ``CLIPVEC_MODEL=...`` prefix lasts one run).
    """
    # Here, not at the top: the shapes module draws with numpy, which a CLI that only checks
    # the model before handing over to BentoML need not import.
    from clipvec.model.shapes import SHAPES_MODEL

    why = why.strip().rstrip(".")
    init = f"{shown_command()} init" + (" --force" if config_path().exists() else "")
    lines = [
        f"cannot load the CLIP model {model!r}: {why}.",
        f"Ways out (init writes {CONFIG_FILE} here, which every clipvec command, make run and bentoml serve read):",
        f"  - a CLIP checkpoint folder you have:        {init} --model /path/to/clip-vit-base-patch32 && make run",
        f"  - a random-weight ViT-B/32 (no meaning):    {shown_command()} make-model ./random-clip"
        f" && {init} --model ./random-clip && make run",
    ]
    if SHAPES_MODEL.is_dir():
        lines.append(
            f"  - a small CLIP that really searches shapes: {init} --model {_shown(SHAPES_MODEL)} && make run"
            "   (or: make demo)"
        )
    lines.append(
        "For one run: CLIPVEC_MODEL=... or --model. Online, the model may also be a Hugging Face id "
        "(downloaded once, then cached)."
    )
    return "\n".join(lines)
