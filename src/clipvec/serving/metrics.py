"""clipvec's own Prometheus metrics, exported on BentoML's /metrics beside its own."""

from __future__ import annotations

import threading

import bentoml

from clipvec.indexing.watch_status import WatchCounts

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

# serve --watch (issue 19). Gauges take the live workers' max (min for the folder's presence),
# so that a worker that exited does not keep reporting.
watch_events = bentoml.metrics.Counter(
    name="clipvec_watch_events_total", documentation="File events seen by the folder watcher."
)
watch_indexed = bentoml.metrics.Counter(
    name="clipvec_watch_files_indexed_total",
    documentation="Files written by watch passes (newly encoded, or new paths of stored contents).",
)
watch_failed_files = bentoml.metrics.Counter(
    name="clipvec_watch_files_failed_total", documentation="Files watch passes could not index."
)
watch_passes = bentoml.metrics.Counter(
    name="clipvec_watch_passes_total",
    documentation="Watch passes by outcome (a failed one is retried).",
    labelnames=["outcome"],
)
watch_queued = bentoml.metrics.Gauge(
    name="clipvec_watch_files_queued",
    documentation="Changed paths waiting for a watch pass.",
    multiprocess_mode="livemax",
)
watch_lag = bentoml.metrics.Gauge(
    name="clipvec_watch_lag_seconds",
    documentation="From the oldest change not indexed yet to now; 0 when idle.",
    multiprocess_mode="livemax",
)
watch_folder_present = bentoml.metrics.Gauge(
    name="clipvec_watch_folder_present",
    documentation="1 while the watched folder is there; 0 while it is missing or empty (unmounted?), or unwatched.",
    multiprocess_mode="livemin",
)
watch_polling = bentoml.metrics.Gauge(
    name="clipvec_watch_polling",
    documentation="1 when the watch limit is reached and periodic passes replace events.",
    multiprocess_mode="livemax",
)


class WatchExport:
    """Follows a watcher's snapshots onto the families above (counters grow by the difference)."""

    def __init__(self) -> None:
        self._last = WatchCounts()
        self._lock = threading.Lock()

    def __call__(self, now: WatchCounts) -> None:
        with self._lock:
            last, self._last = self._last, now
        watch_events.inc(max(0, now.events - last.events))
        watch_indexed.inc(max(0, now.indexed - last.indexed))
        watch_failed_files.inc(max(0, now.failed_files - last.failed_files))
        watch_passes.labels(outcome="done").inc(max(0, now.passes - last.passes))
        watch_passes.labels(outcome="failed").inc(max(0, now.failed - last.failed))
        watch_queued.set(now.queued)
        watch_lag.set(now.lag_seconds)
        watch_folder_present.set(1 if now.folder_present else 0)
        watch_polling.set(1 if now.polling else 0)


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
    for outcome in ("done", "failed"):
        watch_passes.labels(outcome=outcome)
