"""The export cache (model/runtimes/cache.py): reused, rebuilt when damaged, never read half-written.

Most tests drive ``cached_export`` with a small exporter that writes two files and counts its
calls (milliseconds); the last ones export the tiny CLIP for real, to see a changed
checkpoint exported again and a second load not export at all.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
from pathlib import Path

import numpy as np
import pytest

from clipvec.model.runtimes import cache
from clipvec.model.runtimes.cache import MANIFEST, cached_export, export_name

CID = "sha256:" + "ab" * 32


class CountingExporter:
    def __init__(self, payload: bytes = b"graph" * 1000) -> None:
        self.calls = 0
        self.payload = payload

    def __call__(self, checkpoint: Path, into: Path, runtime: str, precision: str):
        self.calls += 1
        (into / "image.onnx").write_bytes(self.payload)
        (into / "text.onnx").write_bytes(self.payload[::-1])
        return {"dim": 4}, ["image.onnx", "text.onnx"]


def test_an_export_is_made_once_and_reused(tmp_path):
    exporter = CountingExporter()
    first, manifest = cached_export(tmp_path, tmp_path, CID, "onnxruntime", "fp32", exporter)
    stamp = (first / "image.onnx").stat().st_mtime_ns
    again, _ = cached_export(tmp_path, tmp_path, CID, "onnxruntime", "fp32", exporter)
    assert exporter.calls == 1 and again == first
    assert (first / "image.onnx").stat().st_mtime_ns == stamp  # untouched
    assert manifest["content_id"] == CID and manifest["dim"] == 4
    assert set(manifest["files"]) == {"image.onnx", "text.onnx"}


def test_the_key_is_the_content_runtime_and_precision(tmp_path):
    exporter = CountingExporter()
    folders = {
        cached_export(tmp_path, tmp_path, cid, runtime, precision, exporter)[0]
        for cid, runtime, precision in [
            (CID, "onnxruntime", "fp32"),
            ("sha256:" + "cd" * 32, "onnxruntime", "fp32"),  # changed weights: exported again
            (CID, "onnxruntime", "int8"),
            (CID, "openvino", "fp32"),
            (CID, "openvino", "bf16"),  # OpenVINO's bf16 is a hint on its fp32 files: the same export
        ]
    }
    assert exporter.calls == 4 and len(folders) == 4
    assert export_name(CID, "openvino", "fp32") in {f.name for f in folders}


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / "image.onnx").write_bytes(b"graph" * 999),  # cut short
        lambda d: (d / "image.onnx").write_bytes(b"GRAPH" * 1000),  # same size, other bytes
        lambda d: (d / "text.onnx").unlink(),
        lambda d: (d / MANIFEST).write_text("{not json"),
        lambda d: (d / MANIFEST).unlink(),
    ],
    ids=["truncated", "changed", "missing", "manifest-garbled", "manifest-missing"],
)
def test_a_damaged_export_is_rebuilt_with_a_warning(tmp_path, damage, caplog):
    exporter = CountingExporter()
    folder, _ = cached_export(tmp_path, tmp_path, CID, "onnxruntime", "fp32", exporter)
    damage(folder)
    with caplog.at_level(logging.WARNING, logger=cache.__name__):
        again, _ = cached_export(tmp_path, tmp_path, CID, "onnxruntime", "fp32", exporter)
    assert exporter.calls == 2 and again == folder
    assert (folder / "image.onnx").read_bytes() == exporter.payload
    assert "damaged" in caplog.text and "exporting it again" in caplog.text
    assert cache.verified(folder, {"content_id": CID})[0] is not None


def test_a_half_written_export_is_never_used_and_is_cleared(tmp_path):
    """An exporter killed half-way leaves its partial folder: the next export ignores it, then removes it."""
    name = export_name(CID, "onnxruntime", "fp32")
    partial = tmp_path / f".{name}.partial-killed"
    partial.mkdir()
    (partial / "image.onnx").write_bytes(b"half")
    exporter = CountingExporter()
    folder, _ = cached_export(tmp_path, tmp_path, CID, "onnxruntime", "fp32", exporter)
    assert exporter.calls == 1 and folder.name == name
    assert not partial.exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name or ".removing-" in p.name]


def test_a_failing_exporter_leaves_nothing_behind(tmp_path):
    def failing(checkpoint, into, runtime, precision):
        (into / "image.onnx").write_bytes(b"half")
        raise RuntimeError("export failed")

    with pytest.raises(RuntimeError):
        cached_export(tmp_path, tmp_path, CID, "onnxruntime", "fp32", failing)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def _export_in_child(root: str, results) -> None:  # noqa: ANN001 - a multiprocessing queue
    import time

    def slow(checkpoint, into, runtime, precision):
        time.sleep(0.3)  # both processes are inside cached_export together
        (into / "image.onnx").write_bytes(b"x" * 100)
        return {"by": __import__("os").getpid()}, ["image.onnx"]

    folder, manifest = cached_export(Path(root), Path(root), CID, "onnxruntime", "fp32", slow)
    results.put((str(folder), manifest["by"]))


def test_two_processes_exporting_at_once_make_one_export(tmp_path):
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    children = [context.Process(target=_export_in_child, args=(str(tmp_path), results)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(30)
    got = [results.get(timeout=5) for _ in children]
    assert got[0] == got[1]  # the same folder, made by one of them, read by both
    assert cache.verified(Path(got[0][0]), {"content_id": CID})[0] is not None


# --------------------------------------------------------------------------- real exports
def _with_changed_weights(source: Path, into: Path) -> Path:
    """A copy of ``source`` whose projection weights differ (the same files, other numbers)."""
    from safetensors.numpy import load_file, save_file

    shutil.copytree(source, into)
    tensors = load_file(str(source / "model.safetensors"))
    key = next(k for k in tensors if k.startswith("visual_projection"))
    tensors[key] = tensors[key] * np.float32(-1.0)
    save_file(tensors, str(into / "model.safetensors"), metadata={"format": "pt"})
    return into


def test_a_second_load_does_not_export_and_changed_weights_do(tiny_model_dir, tmp_path, monkeypatch):
    from clipvec.model import runtimes
    from clipvec.model.encoder import ClipEncoder

    exports = tmp_path / "exports"
    first = ClipEncoder.load(str(tiny_model_dir), runtime="onnxruntime", export_cache=exports)
    made = sorted(p.name for p in exports.iterdir() if p.is_dir())

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(runtimes, "build_export", no_export)
    again = ClipEncoder.load(str(tiny_model_dir), runtime="onnxruntime", export_cache=exports)
    texts = ["a dog", "a red car on the street"]
    np.testing.assert_array_equal(first.encode_texts(texts).vectors, again.encode_texts(texts).vectors)

    monkeypatch.undo()
    changed = _with_changed_weights(tiny_model_dir, tmp_path / "changed")
    other = ClipEncoder.load(str(changed), runtime="onnxruntime", export_cache=exports)
    assert len([p for p in exports.iterdir() if p.is_dir()]) == len(made) + 1
    pixels = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    np.testing.assert_allclose(other.encode_pixels(pixels), -first.encode_pixels(pixels), atol=1e-5)
    torch_changed = ClipEncoder.load(str(changed), precision="fp32")
    assert np.sum(other.encode_pixels(pixels) * torch_changed.encode_pixels(pixels), axis=1).min() > 0.9999


def test_a_corrupt_export_is_rebuilt_by_the_encoder_not_loaded(tiny_model_dir, tmp_path, caplog):
    """Same-size garbage in a real export: the next load warns, exports again and gives the right vectors."""
    from clipvec.model.encoder import ClipEncoder

    exports = tmp_path / "exports"
    first = ClipEncoder.load(str(tiny_model_dir), runtime="onnxruntime", export_cache=exports)
    (graph,) = exports.glob("onnxruntime-fp32-*/image.onnx")
    data = bytearray(graph.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = bytes(4096)  # zeroed weights: a graph that still loads
    graph.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger=cache.__name__):
        again = ClipEncoder.load(str(tiny_model_dir), runtime="onnxruntime", export_cache=exports)
    assert "damaged" in caplog.text and "image.onnx changed" in caplog.text
    pixels = np.random.default_rng(2).standard_normal((2, 3, 224, 224)).astype(np.float32)
    np.testing.assert_array_equal(again.encode_pixels(pixels), first.encode_pixels(pixels))
