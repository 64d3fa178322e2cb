"""clipvec's own Prometheus metrics, read from prometheus_client's text output in-process.

In a ``bentoml serve`` worker the same families are exported through BentoML's multiprocess
collector on /metrics (tests/e2e/test_service.py's test_health_metrics_and_openapi); here
they live in this process's default registry, which is where the families register.
"""

from __future__ import annotations

import subprocess
import sys

from prometheus_client import REGISTRY, generate_latest
from serving_fixtures import jpeg_bytes

from clipvec.errors import DecodeError, EmptyInput, ImageTooLarge, TruncatedImage, UnsupportedImageFormat
from clipvec.images.decode import SUPPORTED_FORMATS
from clipvec.serving import metrics

REASONS = [e.code for e in (EmptyInput, DecodeError, UnsupportedImageFormat, TruncatedImage, ImageTooLarge)]


def exported() -> str:
    return generate_latest(REGISTRY).decode()


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


FRESH_PROCESS = """
import subprocess
import sys

from prometheus_client import REGISTRY, generate_latest
from clipvec.serving import metrics
metrics.start_at_zero()
print(generate_latest(REGISTRY).decode())
"""


def test_start_at_zero_makes_every_labelled_series_exist():
    """In a fresh process (this one's series were touched by other tests): all at 0 from the start."""
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    text = done.stdout
    for fmt in sorted(SUPPORTED_FORMATS):
        assert f'clipvec_images_decoded_total{{format="{fmt}"}} 0.0' in text, fmt
    for reason in REASONS:
        assert f'clipvec_decode_failures_total{{reason="{reason}"}} 0.0' in text, reason
    for kind in ("image", "text"):
        assert f'clipvec_encode_seconds_bucket{{kind="{kind}",le="0.005"}} 0.0' in text, kind
        assert f'clipvec_batch_size_bucket{{kind="{kind}",le="1.0"}} 0.0' in text, kind
        assert f'clipvec_encode_seconds_count{{kind="{kind}"}} 0.0' in text
    for family in ("images_decoded", "decode_failures", "encode_seconds", "batch_size"):
        assert f"# HELP clipvec_{family}" in text, family


def test_start_at_zero_keeps_what_was_counted():
    metrics.images_decoded.labels(format="PNG").inc()
    before = value("clipvec_images_decoded_total", format="PNG")
    metrics.start_at_zero()
    assert value("clipvec_images_decoded_total", format="PNG") == before >= 1


def test_observe_batch():
    count = value("clipvec_batch_size_count", kind="text")
    total = value("clipvec_batch_size_sum", kind="text")
    metrics.observe_batch("text", 5, 0.02)
    assert value("clipvec_batch_size_count", kind="text") == count + 1
    assert value("clipvec_batch_size_sum", kind="text") == total + 5
    assert value("clipvec_encode_seconds_bucket", kind="text", le="0.025") >= 1


def test_the_core_counts_decodes_failures_and_batches(serving_core):
    """What test_health_metrics_and_openapi reads on /metrics after one good and one bad image."""
    decoded = value("clipvec_images_decoded_total", format="JPEG")
    failed = value("clipvec_decode_failures_total", reason="unsupported_image_format")
    images = value("clipvec_batch_size_count", kind="image")
    texts = value("clipvec_encode_seconds_count", kind="text")
    serving_core.vectorize_image(jpeg_bytes())
    try:
        serving_core.vectorize_image(b"not an image")
    except Exception as err:  # noqa: BLE001 - the failure itself is test_core's; here only its count
        assert err.code == "unsupported_image_format"  # type: ignore[attr-defined]
    serving_core.vectorize_texts(["a", "b", ""])
    assert value("clipvec_images_decoded_total", format="JPEG") == decoded + 1
    assert value("clipvec_decode_failures_total", reason="unsupported_image_format") == failed + 1
    assert value("clipvec_batch_size_count", kind="image") == images + 1
    assert value("clipvec_encode_seconds_count", kind="text") == texts + 1  # one batch of the two good texts
    text = exported()
    assert 'clipvec_images_decoded_total{format="JPEG"' in text
    assert "clipvec_decode_failures_total{" in text
    assert "clipvec_encode_seconds_bucket{" in text
    assert "clipvec_batch_size_bucket{" in text


def test_watch_export_follows_snapshots_as_counters_and_gauges():
    """Counters grow by what each snapshot adds; gauges show the latest queued, lag and folder state."""
    from clipvec.indexing.watch_status import WatchCounts

    before = {
        name: value(name) for name in ("clipvec_watch_events_total", "clipvec_watch_files_indexed_total")
    }
    passes_before = value("clipvec_watch_passes_total", outcome="done")
    export = metrics.WatchExport()
    export(WatchCounts(events=5, queued=3, lag_seconds=2.5, pending=True))
    assert value("clipvec_watch_files_queued") == 3 and value("clipvec_watch_lag_seconds") == 2.5
    export(WatchCounts(events=7, indexed=4, passes=1, folder_present=False, polling=True))
    export(WatchCounts(events=7, indexed=4, passes=1, folder_present=False, polling=True))  # no change
    assert value("clipvec_watch_events_total") - before["clipvec_watch_events_total"] == 7
    assert value("clipvec_watch_files_indexed_total") - before["clipvec_watch_files_indexed_total"] == 4
    assert value("clipvec_watch_passes_total", outcome="done") - passes_before == 1
    assert value("clipvec_watch_files_queued") == 0 and value("clipvec_watch_lag_seconds") == 0
    assert value("clipvec_watch_folder_present") == 0 and value("clipvec_watch_polling") == 1
    export(WatchCounts(events=7, indexed=4, passes=1))
    assert value("clipvec_watch_folder_present") == 1 and value("clipvec_watch_polling") == 0
