"""What Pillow and tifffile raise for bad data, and the readable error each becomes.

No raw Pillow/OS/parser exception leaves the decoders: each becomes a
:class:`~clipvec.errors.ClipvecError` subclass whose ``detail`` a client may read. The
library's own message only goes to the log (it can name internals).
"""

from __future__ import annotations

import logging
import re
import struct
import zlib

from PIL import Image

from clipvec.errors import DecodeError, ImageTooLarge, TruncatedImage

__all__ = ["PIL_ERRORS", "is_truncation", "pillow_failure"]

log = logging.getLogger(__name__)

# What Pillow and its plugins raise for bad data (decoders report OSError, parsers the rest).
PIL_ERRORS = (
    OSError,
    EOFError,
    SyntaxError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    struct.error,
    zlib.error,
    ZeroDivisionError,
    RuntimeError,  # libavif / libwebp decoder failures
    MemoryError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)

_TRUNCATION_HINTS = ("truncat", "premature end", "end of file", "not enough data", "unexpected end")


def is_truncation(exc: BaseException) -> bool:
    """True when a decoder's exception says the data ended early."""
    return isinstance(exc, EOFError) or any(hint in str(exc).lower() for hint in _TRUNCATION_HINTS)


def pillow_failure(exc: BaseException, fmt: str, stage: str, max_pixels: int) -> DecodeError:
    """Map an exception from Pillow (or tifffile) to our error classes."""
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        # Pillow's own guard (the warning only arrives here when warnings are errors).
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)) / 1e6:.1f} megapixels" if found else "too many pixels"
        return ImageTooLarge(
            f"{fmt} image has {size}, more than the {max_pixels / 1e6:g} megapixel limit "
            f"(or Pillow's own decompression-bomb limit)"
        )
    if isinstance(exc, MemoryError):
        return ImageTooLarge(f"not enough memory to decode this {fmt} image")
    if is_truncation(exc):
        return TruncatedImage(f"{fmt} file is truncated: the data ends before the image is complete")
    if isinstance(exc, Image.UnidentifiedImageError):
        return DecodeError(f"malformed {fmt} file: its header could not be read (corrupt or cut short)")
    # The library's own message stays in the log: it can name internals, never the client's business.
    log.info("%s: %s failed: %s: %s", fmt, stage, type(exc).__name__, str(exc)[:300])
    return DecodeError(f"malformed {fmt} file: {stage} failed")
