"""Library chatter (weight-loading bars, notices such as the torchvision fallback): only with -v.

The CLI asks for silence; it is applied just before clipvec imports transformers' models,
because importing transformers takes about 2 s, which a run that never loads a model (a
re-import with nothing to do, ``clipvec config``) must not pay.
"""

from __future__ import annotations

import sys

_wanted = False


def silence_transformers() -> None:
    """Quieten transformers now if it is loaded, else as soon as clipvec imports it."""
    global _wanted
    _wanted = True
    if "transformers" in sys.modules:
        _apply()


def before_transformers() -> None:
    """Called right before clipvec imports from transformers (some notices come at import)."""
    if _wanted:
        _apply()


def _apply() -> None:
    from huggingface_hub import constants
    from huggingface_hub.utils import enable_progress_bars
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()  # also switches off the hub's bars ...
    if not constants.HF_HUB_DISABLE_PROGRESS_BARS:
        enable_progress_bars()  # ... which a first, long model download should keep
