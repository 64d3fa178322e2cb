"""``clipvec vectorize --text T | --image FILE``: one vector as JSON, like the service's answer."""

from __future__ import annotations

import argparse
import json
import sys

from clipvec.settings import Settings


def run_vectorize(settings: Settings, args: argparse.Namespace) -> int:
    from clipvec.images import prepare_image
    from clipvec.model.encoder import ClipEncoder

    if args.text is not None and not args.text.strip():
        print("clipvec: the text is empty", file=sys.stderr)
        return 2
    encoder = ClipEncoder.from_settings(settings)
    if args.text is not None:
        vector, truncated = encoder.encode_text(args.text)
        out = {
            "vector": vector.tolist(),
            "dim": encoder.dim,
            "model": encoder.shown_name,
            "truncated": truncated,
        }
    else:
        try:
            data = args.image.read_bytes()
        except OSError as exc:
            print(f"clipvec: cannot read {args.image}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        prepared = prepare_image(data, encoder.preprocessor, max_pixels=settings.max_pixels)
        vector = encoder.encode_pixels(prepared.pixels[None])[0]
        out = {
            "vector": vector.tolist(),
            "dim": encoder.dim,
            "model": encoder.shown_name,
            "format": prepared.format,
        }
    print(json.dumps(out))
    return 0
