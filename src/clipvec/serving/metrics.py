"""clipvec's own Prometheus metrics, exported on BentoML's /metrics beside its own."""

from __future__ import annotations

import bentoml

images_decoded = bentoml.metrics.Counter(
    name="clipvec_images_decoded_total",
    documentation="Images decoded successfully, by detected format.",
    labelnames=["format"],
)
decode_failures = bentoml.metrics.Counter(
    name="clipvec_decode_failures_total",
    documentation="Inputs refused before encoding, by reason code.",
    labelnames=["reason"],
)
encode_seconds = bentoml.metrics.Histogram(
    name="clipvec_encode_seconds",
    documentation="Model time per encoder call (one batch).",
    labelnames=["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
batch_size = bentoml.metrics.Histogram(
    name="clipvec_batch_size",
    documentation="Items per encoder batch.",
    labelnames=["kind"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)


def observe_batch(kind: str, size: int, seconds: float) -> None:
    batch_size.labels(kind=kind).observe(size)
    encode_seconds.labels(kind=kind).observe(seconds)


def start_at_zero() -> None:
    """Create every labelled series at 0, so that each family is on /metrics from start-up.

    Prometheus clients only export a labelled series once it has been touched; a dashboard
    or alert written against a fresh service would otherwise see "no data" instead of 0.
    Called in the worker (after BentoML set up its multiprocess metrics directory).
    """
    from clipvec.errors import DecodeError, EmptyInput, ImageTooLarge, TruncatedImage, UnsupportedImageFormat
    from clipvec.images.decode import SUPPORTED_FORMATS

    for kind in ("image", "text"):
        batch_size.labels(kind=kind)
        encode_seconds.labels(kind=kind)
    for fmt in sorted(SUPPORTED_FORMATS):
        images_decoded.labels(format=fmt)
    for error in (EmptyInput, DecodeError, UnsupportedImageFormat, TruncatedImage, ImageTooLarge):
        decode_failures.labels(reason=error.code)
