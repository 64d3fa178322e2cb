"""torch on a CPU starts from a trace of the model (``model/runtimes/traced.py``, issue 20.1).

What must hold: the first start runs transformers' model and leaves a trace; later starts run
the trace, which gives the vectors of transformers' model (bf16, the CPU default: to the bit;
fp32 within float rounding) for every family, imports no transformers model, and a trace
that is damaged, made by another torch, or cannot be written never stops a start.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clipvec.model.device import cpu_has_native_bf16
from clipvec.model.encoder import ClipEncoder
from clipvec.model.runtimes import traced
from clipvec.settings import Settings

PIXELS = np.random.default_rng(0).standard_normal((3, 3, 224, 224)).astype(np.float32)
TEXTS = ["a red car", "a dog on a beach " * 12, "x", "猫" * 90, ""]
FAMILIES = ["siglip", "siglip2", "chinese_clip", "altclip", "metaclip_2"]
# bf16 is the CPU default only where the CPU has it; elsewhere auto is fp32 (tested below too).
needs_bf16 = pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bf16")


def load(model_dir: Path, cache: Path, precision: str = "bf16") -> ClipEncoder:
    return ClipEncoder.load(str(model_dir), device="cpu", precision=precision, trace=True, export_cache=cache)


def traces(cache: Path) -> list[Path]:
    return sorted(p for p in cache.glob("torch-*") if p.is_dir()) if cache.exists() else []


def assert_same_vectors(expected: ClipEncoder, got: ClipEncoder, *, exact: bool = True) -> None:
    check = (
        np.testing.assert_array_equal if exact else (lambda a, b: np.testing.assert_allclose(a, b, atol=1e-7))
    )
    for n in (1, len(PIXELS)):
        check(got.encode_pixels(PIXELS[:n]), expected.encode_pixels(PIXELS[:n]))
    for texts in (TEXTS, TEXTS[:1], TEXTS[2:4]):
        want, have = expected.encode_texts(texts), got.encode_texts(texts)
        check(have.vectors, want.vectors)
        assert (have.truncated, have.token_counts) == (want.truncated, want.token_counts)
    assert (got.dim, got.context_length, got.identity) == (
        expected.dim,
        expected.context_length,
        expected.identity,
    )


@needs_bf16
def test_the_first_start_leaves_a_trace_and_the_next_runs_it_with_the_same_vectors(tiny_model_dir, tmp_path):
    cache = tmp_path / "exports"
    first = load(tiny_model_dir, cache)
    assert first.model is not None  # transformers' model, as always
    assert len(traces(cache)) == 1
    second = load(tiny_model_dir, cache)
    assert second.model is None and second.runtime == "torch" and second.precision == "bf16"
    assert_same_vectors(first, second)


@needs_bf16
@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_traces_to_its_own_vectors(family_model_dir, family, tmp_path):
    cache = tmp_path / "exports"
    eager = load(family_model_dir(family), cache)
    assert_same_vectors(eager, load(family_model_dir(family), cache))


def test_fp32_is_traced_too(tiny_model_dir, tmp_path):
    cache = tmp_path / "exports"
    eager = load(tiny_model_dir, cache, "fp32")
    again = load(tiny_model_dir, cache, "fp32")
    assert again.model is None and again.precision == "fp32"
    assert_same_vectors(eager, again, exact=False)  # one batch size's matmul path differs in the last bit


def test_a_start_from_the_trace_imports_no_transformers_model(tiny_model_dir, tmp_path):
    cache = tmp_path / "exports"
    load(tiny_model_dir, cache)
    code = (
        "import sys; from pathlib import Path; from clipvec.model.encoder import ClipEncoder; "
        f"e = ClipEncoder.load({str(tiny_model_dir)!r}, device='cpu', trace=True, export_cache=Path({str(cache)!r})); "
        "assert e.model is None; e.encode_text('a dog'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'transformers'))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


@needs_bf16
def test_a_damaged_trace_is_never_run_and_is_made_again(tiny_model_dir, tmp_path, caplog):
    cache = tmp_path / "exports"
    eager = load(tiny_model_dir, cache)
    (folder,) = traces(cache)
    archive = folder / traced.TRACE_FILE
    data = bytearray(archive.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # same size: only the sha256 can tell
    archive.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        after_damage = load(tiny_model_dir, cache)
    assert after_damage.model is not None  # transformers' model, not the damaged trace
    assert "damaged" in caplog.text
    again = load(tiny_model_dir, cache)  # traced again by the start above
    assert again.model is None
    assert_same_vectors(eager, again)


def test_a_trace_made_by_another_torch_is_made_again(tiny_model_dir, tmp_path, caplog):
    cache = tmp_path / "exports"
    load(tiny_model_dir, cache)
    (folder,) = traces(cache)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "torch": "1.0.0"}))
    with caplog.at_level(logging.WARNING):
        assert load(tiny_model_dir, cache).model is not None
    assert "traced by torch 1.0.0" in caplog.text
    assert load(tiny_model_dir, cache).model is None


def test_a_cache_that_cannot_be_written_still_starts(tiny_model_dir, tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING):
        encoder = load(tiny_model_dir, blocker / "exports")
    assert encoder.model is not None and encoder.encode_text("a cat")[0].shape == (encoder.dim,)
    assert "could not keep a traced copy" in caplog.text


def test_a_trace_that_fails_half_way_leaves_nothing_half_written(
    tiny_model_dir, tmp_path, monkeypatch, caplog
):
    def full_disk(encoder, into):
        (into / traced.TRACE_FILE).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(traced, "_trace", full_disk)
    cache = tmp_path / "exports"
    with caplog.at_level(logging.WARNING):
        assert load(tiny_model_dir, cache).model is not None
    assert "No space left on device" in caplog.text
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []
    monkeypatch.undo()
    load(tiny_model_dir, cache)
    assert load(tiny_model_dir, cache).model is None  # a later start traces it


def test_without_trace_the_cache_is_left_alone(tiny_model_dir, tmp_path):
    encoder = ClipEncoder.load(str(tiny_model_dir), device="cpu", export_cache=tmp_path / "exports")
    assert encoder.model is not None and not (tmp_path / "exports").exists()


def test_settings_trace_by_default_and_can_say_no(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPVEC_EXPORT_CACHE", str(tmp_path / "exports"))
    monkeypatch.setenv("CLIPVEC_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("CLIPVEC_DEVICE", "cpu")
    assert Settings().torch_trace is True
    ClipEncoder.from_settings(Settings())
    assert ClipEncoder.from_settings(Settings()).model is None
    monkeypatch.setenv("CLIPVEC_TORCH_TRACE", "false")
    assert ClipEncoder.from_settings(Settings()).model is not None
