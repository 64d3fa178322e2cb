"""``clipvec config``: the effective settings, where each came from, auto values resolved,
paths absolute, secrets hidden. The listing is TOML: a line can be copied into clipvec.toml."""

from __future__ import annotations

import json
from pathlib import Path

from clipvec.cli.init_cmd import render
from clipvec.locations import is_lite_uri, is_s3_uri
from clipvec.settings import Settings, config_path, setting_origins

_SECRET_WORDS = ("token", "key", "password", "secret")


def run_config(settings: Settings, flags: dict[str, object], as_json: bool = False) -> int:
    """Print the settings (``--json``: the values only) with their origins as comments."""
    values = effective_config(settings)
    if as_json:
        print(json.dumps(values, indent=2))
        return 0
    origins = setting_origins(flags)
    path = config_path()
    print(
        f"# settings in effect here; {path}: {'read' if path.exists() else 'none (clipvec init writes one)'}"
    )
    print("# origin of each value: flag > env (CLIPVEC_*) > clipvec.toml > default")
    lines = render(values, header=False).splitlines()
    width = max(len(line) for line in lines)
    for line, field in zip(lines, values, strict=True):
        origin = origins[field]
        raw = getattr(settings, field)
        if values[field] != raw and isinstance(raw, str) and raw == "auto":
            origin += ", auto"
        print(f"{line.ljust(width)}  # {origin}")
    return 0


def effective_config(settings: Settings) -> dict[str, object]:
    """The settings as they take effect: auto values resolved, paths absolute, secrets hidden."""
    from clipvec.model.device import resolve_device, resolve_precision

    out: dict[str, object] = settings.model_dump()
    if settings.runtime == "torch":
        device = resolve_device(settings.device)
        out["device"] = str(device)
        out["precision"] = resolve_precision(settings.precision, device)
    else:  # the other runtimes run on the CPU, auto meaning fp32 (model/runtimes)
        out["device"] = "cpu"
        out["precision"] = "fp32" if settings.precision == "auto" else settings.precision
    out["export_cache"] = str(settings.export_cache_dir().resolve())
    out["threads"] = settings.resolved_threads()
    out["decode_workers"] = settings.resolved_decode_workers()
    if is_lite_uri(settings.milvus_uri):
        out["milvus_uri"] = str(Path(settings.milvus_uri).expanduser().resolve())
    if not is_s3_uri(settings.images_dir):
        out["images_dir"] = str(Path(settings.images_dir).expanduser().resolve())
    out["thumb_dir"] = str(settings.thumb_dir_candidates()[0].resolve())
    if Path(settings.model).expanduser().is_dir():
        out["model"] = str(Path(settings.model).expanduser().resolve())
    for field, value in list(out.items()):
        if any(word in field for word in _SECRET_WORDS) and value:
            out[field] = "*** (set, hidden)"
    return out
