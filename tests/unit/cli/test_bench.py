"""``clipvec bench`` (the package's ``main``): arguments, the table, then one JSON line.

A short run of our path only (tiny model, 2 small photos, no original path, no import);
the full run with the original path, fidelity and the import is
tests/e2e/test_benchmark_smoke.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clipvec.cli import bench
from clipvec.cli.bench import main, parse_args

QUICK = ["--images", "2", "--megapixels", "0.02", "0.04", "--repeat", "1", "--text-queries", "2"]
QUICK += ["--skip-original", "--skip-fp32", "--skip-import", "--threads", "1"]


def test_defaults():
    args = parse_args([])
    assert (args.images, args.megapixels, args.original_subset, args.repeat) == (48, (1.0, 12.0), 12, 3)
    assert (args.cache, args.model, args.photos, args.precision) == (Path(".bench-cache"), None, None, "auto")
    assert (args.batch_size, args.threads, args.decode_workers, args.text_queries) == (32, 0, 0, 100)
    assert not (args.skip_original or args.skip_fp32 or args.skip_import or args.json_only)


def test_a_leading_separator_is_dropped():
    assert parse_args(["--", "--images", "5"]).images == 5


def test_help_exits_0(capsys):
    with pytest.raises(SystemExit) as exited:
        parse_args(["--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("usage: clipvec bench")


def test_a_quick_run_prints_the_table_then_one_json_line(tiny_model_dir, tmp_path, capsys):
    json_out = tmp_path / "result.json"
    argv = [
        *QUICK,
        "--model",
        str(tiny_model_dir),
        "--cache",
        str(tmp_path / "cache"),
        "--json-out",
        str(json_out),
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    result = json.loads(lines[-1])
    assert json_out.read_text() == lines[-1] + "\n"
    assert any(line.startswith("path ") for line in lines) and lines[0].startswith("machine: ")
    assert "photos: 2 JPEGs" in captured.out
    assert result["images"] == 2 and 0.019 < result["megapixels_min"] <= result["megapixels_max"] < 0.041
    assert result["ours_img_s"] > 0 and result["torch_threads"] == 1
    assert 0 < result["text_p50_ms"] <= result["text_p99_ms"]
    assert result["import_files_s"] is None and "original_img_s" not in result
    assert {"cpu", "cores", "ram_gb", "python", "torch", "load_avg_start", "load_avg_end"} <= set(result)
    assert "ours (" in captured.err and "original path" not in captured.err  # the progress log
    assert sorted(p.name for p in (tmp_path / "cache" / "photos").iterdir()) == sorted(
        p.name for p in (tmp_path / "cache" / "photos").glob("photo_0_*.jpg")
    )


def test_json_only_prints_just_the_line(tiny_model_dir, tmp_path, capsys):
    argv = [*QUICK, "--model", str(tiny_model_dir), "--photos", str(tmp_path / "p"), "--json-only"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert len(out.strip().splitlines()) == 1 and json.loads(out)["images"] == 2
    assert "photos:" not in err and "ours (" not in err  # no progress log (transformers' own bars remain)


def test_the_package_names_its_parts():
    assert set(bench.__all__) >= {"main", "build_photos", "encode_files", "machine_info", "run_import"}


def test_python_dash_m_runs_the_benchmark(monkeypatch, capsys):
    import runpy
    import sys

    monkeypatch.setattr(sys, "argv", ["python -m clipvec.cli.bench", "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("clipvec.cli.bench", run_name="__main__")
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("usage: clipvec bench")


def test_your_own_photos_and_model_side_by_side_with_fidelity(tiny_model_dir, tmp_path, capsys):
    """Issue 20 item 5: ``--photos DIR --model FOLDER --json``: the user's photos as they are,
    through the original path and ours, with the fidelity of ours to the original's vectors."""
    from PIL import Image

    from clipvec.cli.bench.table import format_table

    mine = tmp_path / "mine"
    mine.mkdir()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(mine / "b.png")
    Image.radial_gradient("L").resize((40, 90)).save(mine / "a portrait.jpg", quality=85)  # grey, portrait
    Image.effect_noise((80, 80), 40).convert("RGB").save(mine / "c.jpg")
    (mine / "notes.txt").write_text("not a photo")
    (mine / ".hidden.jpg").write_bytes((mine / "c.jpg").read_bytes())
    before = sorted(p.name for p in mine.iterdir())
    argv = ["--photos", str(mine), "--model", str(tiny_model_dir), "--json", "--precision", "fp32"]
    argv += ["--repeat", "1", "--text-queries", "2", "--skip-import", "--skip-fp32", "--threads", "1"]
    argv += ["--original-subset", "2", "--cache", str(tmp_path / "cache")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1  # --json: the one line, for scripts
    result = json.loads(out)
    assert (result["images"], result["photos"], result["original_images"]) == (3, str(mine), 2)
    assert result["megapixels_min"] == 0.0 and result["megapixels_max"] == 0.01  # their sizes, read
    assert -1.0 <= result["fidelity_min_cos"] <= result["fidelity_mean_cos"] <= 1.0001
    assert result["fidelity_mean_cos"] > 0.9  # the same model on the same photos
    assert result["ours_img_s"] > 0 and result["original_img_s"] > 0 and result["ratio"] > 0
    assert f"photos: 3 from {mine}" in format_table(result)
    assert sorted(p.name for p in mine.iterdir()) == before  # nothing written into the user's folder
    assert not (tmp_path / "cache" / "photos").exists()  # and no photos generated


def test_images_caps_your_own_photos_and_an_empty_folder_is_filled_as_before(tmp_path):
    from PIL import Image

    from clipvec.cli.bench.inputs import user_photos

    for name in ("c.png", "a.png", "b.png"):
        Image.new("RGB", (30, 20)).save(tmp_path / name)
    assert [(p.name, size) for p, size in user_photos(tmp_path, 2)] == [
        ("a.png", (30, 20)),
        ("b.png", (30, 20)),
    ]
    assert user_photos(tmp_path / "missing") == []
    assert parse_args(["--photos", str(tmp_path)]).images_given is False
    assert parse_args(["--images", "5"]).images_given is True
