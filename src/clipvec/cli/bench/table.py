"""The human-readable summary printed before the JSON line."""

from __future__ import annotations

from typing import Any


def format_table(r: dict[str, Any]) -> str:
    """The human-readable summary printed before the JSON line."""

    def fmt(v: Any, spec: str = ".2f") -> str:
        return "-" if v is None else format(v, spec)

    orig = r.get("original_img_s")
    rows = [
        (
            f"original ({r.get('original_processor', 'CLIPProcessor')}, 1/call, fp32)",
            orig,
            None,
            1.0 if orig else None,
            f"{r.get('original_images', 0)} img, mean {r.get('original_megapixels_mean', '-')} MP",
        ),
        (
            f"ours ({_runtime(r)}{r['precision']}, batch {r['batch_size']})",
            r["ours_img_s"],
            r.get("fidelity_min_cos"),
            r.get("ratio"),
            f"{r['images']} img",
        ),
    ]
    if r["precision"] != "fp32" and "ours_fp32_img_s" in r:
        rows.append(
            (
                "ours (torch fp32)" if _runtime(r) else "ours (fp32)",
                r["ours_fp32_img_s"],
                r.get("fidelity_fp32_min_cos"),
                r.get("ratio_fp32"),
                f"{r['images']} img",
            )
        )
    if r.get("import_files_s") is not None:
        n = f"{r.get('import_files', 0)} files"
        rows.append(("import folder -> Milvus Lite (Importer.run)", r["import_files_s"], None, None, n))
        rows.append(
            (
                "  same, plus opening the Milvus Lite db",
                r["import_e2e_files_s"],
                None,
                None,
                f"{n}, open {r['import_store_open_s']:.1f} s",
            )
        )
    lines = [
        f"machine: {r['cpu']}, {r['cores']} cores, {r['ram_gb']} GB RAM; torch {r['torch']}, "
        f"{r['torch_threads']} torch threads, {r['decode_workers']} decode threads; "
        f"load avg {r['load_avg_start']} -> {r['load_avg_end']}",
        f"model: {r.get('model', '-')} (family {r.get('family', 'clip')})",
        f"photos: {r['images']} {'from ' + r['photos'] if r.get('photos') else 'JPEGs'}, "
        f"{r['megapixels_min']}-{r['megapixels_max']} MP "
        f"(mean {r['megapixels_mean']})",
        "",
        f"{'path':<52} {'img/s':>8} {'min cos':>9} {'x orig':>7}  n",
        "-" * 88,
    ]
    for name, ips, cos, ratio, n in rows:
        lines.append(f"{name:<52} {fmt(ips):>8} {fmt(cos, '.6f'):>9} {fmt(ratio):>7}  {n}")
    lines += [
        "-" * 88,
        f"text query (1 per call): p50 {fmt(r.get('text_p50_ms'))} ms, p99 {fmt(r.get('text_p99_ms'))} ms",
        f"peak RSS: {fmt(r.get('rss_ours_mb'), '.0f')} MiB after our {r['precision']} rows, "
        f"{fmt(r.get('rss_peak_mb'), '.0f')} MiB with the original path loaded too",
    ]
    if r.get("text_fidelity_min_cos") is not None:  # the original path ran: its text tower is the reference
        lines.insert(
            -1,
            "text fidelity (min cos to the family's tokenizer + text tower): "
            f"{fmt(r.get('text_fidelity_min_cos'), '.6f')} {r['precision']}, "
            f"{fmt(r.get('text_fidelity_fp32_min_cos'), '.6f')} fp32",
        )
    if r.get("import_error"):
        lines.append(f"import skipped: {r['import_error']}")
    return "\n".join(lines)


def _runtime(r: dict[str, Any]) -> str:
    """The runtime of our row as its label starts (nothing for torch, as before runtimes)."""
    runtime = r.get("runtime", "torch")
    return "" if runtime == "torch" else f"{runtime} "
