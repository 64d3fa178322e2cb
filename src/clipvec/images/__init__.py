"""Images: bytes -> upright 8-bit RGB -> model-ready pixels, the same way for every caller.

Data flow::

    file source --read_image_file--> bytes      (sniff the first 4 KB; a non-image stops there)
    bytes --sniff_format--> format               (magic bytes only, never a name or Content-Type)
    bytes --decode_image--> DecodedImage         (header size check, PixelBudget reservation,
                                                  upright RGB, transparency on white, deep
                                                  samples scaled, HDR tone-mapped)
    DecodedImage --Preprocessor--> PreparedImage (the family's resize and crop or squash, normalise)

:func:`prepare_image` runs the last two steps in one call. Modules, one job each:

* :mod:`~clipvec.images.formats`: supported formats and sniffing;
* :mod:`~clipvec.images.decode`: the decoder entry, dispatching by format to
  :mod:`~clipvec.images.pillow_decode` (most formats), :mod:`~clipvec.images.tiff`
  (TIFFs Pillow cannot read) and :mod:`~clipvec.images.hdr` (Radiance HDR);
* :mod:`~clipvec.images.decoded`: the decoder result, header size check, EXIF orientation;
* :mod:`~clipvec.images.photo_meta`: ``PhotoMeta``, when/where/with what a photo was taken;
* :mod:`~clipvec.images.exif_meta`: reading it from the EXIF block the decoder parsed anyway;
* :mod:`~clipvec.images.samples`: deep samples to 8 bits, alpha onto white;
* :mod:`~clipvec.images.failures`: library exceptions -> readable ``ClipvecError`` s;
* :mod:`~clipvec.images.budget`: the pixel budget shared by concurrent decodes;
* :mod:`~clipvec.images.preprocess`: model preprocessing (matches the family's transformers processor);
* :mod:`~clipvec.images.policies`: each checkpoint's policy, its preprocessor_config.json over its class's defaults;
* :mod:`~clipvec.images.prepare`: the bytes -> pixels entry and the sniff-first file reader.

This package imports nothing from clipvec but ``clipvec.errors``.
"""

from __future__ import annotations

from clipvec.images.budget import PixelBudget, Reservation
from clipvec.images.decode import DecodedImage, decode_file, decode_image
from clipvec.images.exif_meta import read_photo_meta, read_photo_meta_of
from clipvec.images.formats import SUPPORTED_FORMATS, sniff_format
from clipvec.images.photo_meta import UNKNOWN_META, PhotoMeta
from clipvec.images.prepare import (
    SNIFF_BYTES,
    FileTooLarge,
    NotAnImage,
    PreparedImage,
    prepare_decoded,
    prepare_image,
    read_image_file,
)
from clipvec.images.preprocess import Preprocessor

__all__ = [
    "SNIFF_BYTES",
    "SUPPORTED_FORMATS",
    "UNKNOWN_META",
    "DecodedImage",
    "FileTooLarge",
    "NotAnImage",
    "PhotoMeta",
    "PixelBudget",
    "PreparedImage",
    "Preprocessor",
    "Reservation",
    "decode_file",
    "decode_image",
    "prepare_decoded",
    "prepare_image",
    "read_image_file",
    "read_photo_meta",
    "read_photo_meta_of",
    "sniff_format",
]
