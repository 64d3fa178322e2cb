"""``clipvec bench --runtime R --precision P``: the original path and that runtime side by side, with fidelity."""

from __future__ import annotations

import json

from clipvec.cli.bench import main
from clipvec.cli.bench.table import format_table


def test_bench_runs_a_runtime_beside_the_original_path(tiny_model_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CLIPVEC_EXPORT_CACHE", str(tmp_path / "exports"))
    argv = ["--images", "2", "--megapixels", "0.02", "0.04", "--repeat", "1", "--text-queries", "2"]
    argv += ["--model", str(tiny_model_dir), "--runtime", "onnxruntime", "--precision", "int8", "--json"]
    argv += ["--original-subset", "1", "--skip-import", "--threads", "1", "--cache", str(tmp_path / "cache")]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["runtime"], result["precision"]) == ("onnxruntime", "int8")
    assert result["ours_img_s"] > 0 and result["original_img_s"] > 0
    assert result["fidelity_min_cos"] > 0.99 and result["text_fidelity_min_cos"] > 0.99  # tiny model, int8
    assert result["fidelity_fp32_min_cos"] > 0.9999  # the torch fp32 row beside it
    table = format_table(result)
    assert "ours (onnxruntime int8, batch 32)" in table and "ours (torch fp32)" in table
    assert any(p.name.startswith("onnxruntime-int8-") for p in (tmp_path / "exports").iterdir())
