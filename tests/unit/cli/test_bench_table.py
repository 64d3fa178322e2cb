"""``clipvec bench``'s human table, from fixed results (no benchmark is run)."""

from __future__ import annotations

from typing import Any

import pytest

from clipvec.cli.bench.table import format_table


@pytest.fixture
def full() -> dict[str, Any]:
    """A result with every row: original, ours in bf16 and fp32, the import."""
    return {
        "bench": "clipvec",
        "load_avg_start": 1.5,
        "images": 48,
        "megapixels_min": 1.0,
        "megapixels_max": 12.0,
        "megapixels_mean": 6.5,
        "cpu": "Test CPU",
        "cores": 8,
        "ram_gb": 31.2,
        "python": "3.11.0",
        "torch": "2.5.0",
        "model": "m",
        "torch_threads": 8,
        "decode_workers": 8,
        "batch_size": 32,
        "precision": "bf16",
        "ours_img_s": 40.123,
        "text_p50_ms": 5.5,
        "text_p99_ms": 9.25,
        "import_files_s": 30.5,
        "import_files": 48,
        "import_failed": 0,
        "import_seconds": 1.57,
        "import_store_open_s": 1.25,
        "import_e2e_files_s": 20.0,
        "import_stages_s": {},
        "rss_ours_mb": 900.4,
        "ours_fp32_img_s": 20.0,
        "original_img_s": 4.0,
        "original_images": 12,
        "original_megapixels_mean": 6.4,
        "ratio": 10.03,
        "ratio_fp32": 5.0,
        "fidelity_min_cos": 0.99512,
        "fidelity_mean_cos": 0.998,
        "fidelity_fp32_min_cos": 0.9999999,
        "rss_peak_mb": 1500.6,
        "load_avg_end": 2.0,
    }


RULE = "-" * 88


def test_every_row(full):
    assert format_table(full).splitlines() == [
        "machine: Test CPU, 8 cores, 31.2 GB RAM; torch 2.5.0, 8 torch threads, 8 decode threads; "
        "load avg 1.5 -> 2.0",
        "model: m (family clip)",
        "photos: 48 JPEGs, 1.0-12.0 MP (mean 6.5)",
        "",
        "path                                                    img/s   min cos  x orig  n",
        RULE,
        "original (CLIPProcessor, 1/call, fp32)                   4.00         -    1.00  12 img, mean 6.4 MP",
        "ours (bf16, batch 32)                                   40.12  0.995120   10.03  48 img",
        "ours (fp32)                                             20.00  1.000000    5.00  48 img",
        "import folder -> Milvus Lite (Importer.run)             30.50         -       -  48 files",
        "  same, plus opening the Milvus Lite db                 20.00         -       -  48 files, open 1.2 s",
        RULE,
        "text query (1 per call): p50 5.50 ms, p99 9.25 ms",
        "peak RSS: 900 MiB after our bf16 rows, 1501 MiB with the original path loaded too",
    ]


def test_columns_line_up(full):
    """name 52, img/s 8, min cos 9, x orig 7 (right-aligned), then n: the header's columns."""
    lines = format_table(full).splitlines()
    header, rows = lines[4], lines[6:11]
    assert [header.index(word) + len(word) for word in ("img/s", "min cos", "x orig")] == [61, 71, 79]
    assert header.index(" n") == 80
    for row in rows:
        assert (row[52], row[61], row[71], row[79:81]) == (" ", " ", " ", "  "), row
        assert row[81] != " "


def test_skipped_rows_and_missing_values_are_dashes(full):
    for key in ("original_img_s", "original_images", "original_megapixels_mean", "ratio", "ratio_fp32"):
        del full[key]
    for key in ("fidelity_min_cos", "fidelity_fp32_min_cos", "ours_fp32_img_s", "rss_peak_mb"):
        del full[key]
    full.update(import_files_s=None, import_error="ImportError: no milvus")
    lines = format_table(full).splitlines()
    assert (
        lines[6]
        == f"{'original (CLIPProcessor, 1/call, fp32)':<52} {'-':>8} {'-':>9} {'-':>7}  0 img, mean - MP"
    )
    assert lines[7] == f"{'ours (bf16, batch 32)':<52} {'40.12':>8} {'-':>9} {'-':>7}  48 img"
    assert lines[8] == RULE  # no fp32 row, no import rows
    assert lines[-2] == "peak RSS: 900 MiB after our bf16 rows, - MiB with the original path loaded too"
    assert lines[-1] == "import skipped: ImportError: no milvus"


def test_an_fp32_run_has_one_row_of_ours(full):
    full["precision"] = "fp32"
    lines = format_table(full).splitlines()
    assert [line.split("  ")[0] for line in lines[6:9]] == [
        "original (CLIPProcessor, 1/call, fp32)",
        "ours (fp32, batch 32)",
        "import folder -> Milvus Lite (Importer.run)",
    ]


def test_another_family_names_its_reference_and_text_fidelity(full):
    """Issue 18.6: the reference row is the family's own image processor; the text tower's cosine is shown."""
    full.update(
        model="/m/siglip",
        family="siglip",
        original_processor="SiglipProcessor",
        text_fidelity_min_cos=0.99991,
        text_fidelity_fp32_min_cos=1.0,
    )
    lines = format_table(full).splitlines()
    assert lines[1] == "model: /m/siglip (family siglip)"
    assert lines[6].startswith("original (SiglipProcessor, 1/call, fp32)   ")
    assert lines[-2] == (
        "text fidelity (min cos to the family's tokenizer + text tower): 0.999910 bf16, 1.000000 fp32"
    )
    assert lines[-1].startswith("peak RSS: ")
