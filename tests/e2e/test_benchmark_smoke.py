"""``clipvec bench`` end to end on the tiny model and 4 small photos (seconds, not minutes)."""

from __future__ import annotations

import importlib.util
import json

from clipvec.cli.bench import main

KEYS = {
    "images",
    "precision",
    "original_img_s",
    "ours_img_s",
    "ours_fp32_img_s",
    "ratio",
    "text_p50_ms",
    "text_p99_ms",
    "fidelity_min_cos",
    "fidelity_fp32_min_cos",
    "import_files_s",
    "rss_ours_mb",
    "rss_peak_mb",
}


def test_bench_prints_one_json_line(tiny_model_dir, tmp_path, capsys):
    argv = ["--images", "4", "--megapixels", "0.1", "0.3", "--model", str(tiny_model_dir)]
    argv += ["--cache", str(tmp_path), "--original-subset", "2", "--repeat", "1", "--text-queries", "5"]
    assert main([*argv, "--json-only"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1, lines
    r = json.loads(lines[0])

    assert not KEYS - r.keys(), KEYS - r.keys()
    assert r["images"] == 4 and 0.09 < r["megapixels_min"] <= r["megapixels_max"] < 0.31
    for key in ("original_img_s", "ours_img_s", "ours_fp32_img_s", "ratio"):
        assert r[key] > 0, key
    assert 0 < r["text_p50_ms"] <= r["text_p99_ms"] < 5000
    # Same model, same photos: our vectors must match the original path's fp32 reference.
    assert r["fidelity_fp32_min_cos"] > 0.99
    assert r["fidelity_min_cos"] > 0.99
    assert 100 < r["rss_ours_mb"] <= r["rss_peak_mb"] < 8000
    if importlib.util.find_spec("clipvec.store") is not None:
        assert r["import_files"] == 4 and r["import_failed"] == 0 and r["import_files_s"] > 0
    else:
        assert r["import_files_s"] is None and "clipvec.store" in r["import_error"]

    # The human table comes before the same JSON line.
    assert main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("path") for line in out) and json.loads(out[-1])["images"] == 4
