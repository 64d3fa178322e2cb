"""CLIPVEC_RUNTIME (model/runtimes): the choice and its errors, fidelity per runtime and precision,
the exported tokenizer's ids, and a load from the cache that imports neither torch nor transformers.

Every tiny checkpoint is exported once per module (a module-scoped export cache). Bounds:
fp32 >= 0.9999 cosine to torch fp32, OpenVINO bf16 >= 0.999 (measured 0.99986); int8 measured
on these random tiny weights and inputs (min over images and texts, CLIP and SigLIP): ONNX
Runtime's dynamic quantisation 0.998996 (CLIP's texts), OpenVINO's weight-only 0.999460,
asserted at 0.998. Quantisation error depends on the weights: README "Runtimes".
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clipvec.errors import ModelLoadError
from clipvec.model import runtimes
from clipvec.model.device import cpu_has_native_bf16
from clipvec.model.encoder import ClipEncoder
from clipvec.model.local_tokenizers import TRAINING_TEXT
from clipvec.settings import RUNTIME_PRECISIONS, Settings

# Whole lines of several scripts, empty and blank texts, over-long ones (cut, flagged truncated).
TEXTS = [line for line in TRAINING_TEXT.splitlines() if line.strip()]
TEXTS += ["", " ", "a", "dog " * 100, "猫" * 200, "a  photo\tof\n a cat", "👨‍👩‍👧" * 30, "x" * 5000]
BOUNDS = {"fp32": 0.9999, "bf16": 0.999, "int8": 0.998}
PAIRS = [("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "fp32"), ("openvino", "bf16")]
PAIRS += [("openvino", "int8")]


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="module")
def reference(family_model_dir):
    """Torch fp32 encoders, one per family, loaded once."""
    loaded: dict[str, ClipEncoder] = {}

    def get(family: str) -> ClipEncoder:
        if family not in loaded:
            loaded[family] = ClipEncoder.load(str(family_model_dir(family)), device="cpu", precision="fp32")
        return loaded[family]

    return get


# --------------------------------------------------------------------------- the choice
def test_each_runtime_says_which_precisions_it_runs():
    assert Settings().runtime == "torch"
    for runtime, precisions in RUNTIME_PRECISIONS.items():
        for precision in precisions:
            assert Settings(runtime=runtime, precision=precision).runtime == runtime


@pytest.mark.parametrize(
    "runtime,precision", [("onnxruntime", "bf16"), ("torch", "int8"), ("openvino", "fp16")]
)
def test_an_unsupported_pair_is_one_clear_error(runtime, precision, capsys, monkeypatch, tmp_path):
    from clipvec.cli import main

    with pytest.raises(ValueError, match=f"the {runtime} runtime cannot run precision '{precision}'"):
        Settings(runtime=runtime, precision=precision)
    with pytest.raises(ModelLoadError, match="cannot run precision"):
        runtimes.check_runtime(runtime, precision, "cpu")
    with pytest.raises(ModelLoadError, match="cannot run precision"):  # as bench and Ray call it
        ClipEncoder.load(str(tmp_path), runtime=runtime, precision=precision, export_cache=tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["config", "--runtime", runtime, "--precision", precision]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CLIPVEC_RUNTIME (--runtime)" in err and "cannot run precision" in err


def test_a_missing_package_says_what_to_install(monkeypatch, tiny_model_dir, tmp_path):
    real = runtimes.find_spec
    monkeypatch.setattr(runtimes, "find_spec", lambda name: None if name == "openvino" else real(name))
    with pytest.raises(
        ModelLoadError, match=r"needs the package\(s\) openvino: pip install 'clipvec\[runtimes\]'"
    ):
        ClipEncoder.load(str(tiny_model_dir), runtime="openvino", export_cache=tmp_path)
    assert not any(tmp_path.iterdir())  # refused before anything is exported


def test_other_runtimes_run_on_the_cpu(tiny_model_dir, tmp_path):
    with pytest.raises(ModelLoadError, match="CLIPVEC_DEVICE=cuda needs CLIPVEC_RUNTIME=torch"):
        ClipEncoder.load(str(tiny_model_dir), runtime="onnxruntime", device="cuda", export_cache=tmp_path)


def test_auto_is_fp32_and_the_config_shows_it(tmp_path, monkeypatch):
    from clipvec.cli.config_cmd import effective_config

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("CLIPVEC_EXPORT_CACHE", raising=False)  # the test session's own
    shown = effective_config(Settings(runtime="onnxruntime"))
    assert (shown["runtime"], shown["precision"], shown["device"]) == ("onnxruntime", "fp32", "cpu")
    assert shown["export_cache"] == str(tmp_path / "clipvec" / "exports")
    assert Settings(export_cache="~/x").export_cache_dir() == Path.home() / "x"


# --------------------------------------------------------------------------- fidelity
# CLIP in the fast tier; SigLIP (its own pooling head and padding) in `make test` only: each
# export and OpenVINO compile takes seconds.
@pytest.mark.parametrize("family", ["clip", pytest.param("siglip", marks=pytest.mark.slow)])
@pytest.mark.parametrize("runtime,precision", PAIRS)
def test_vectors_match_torch_fp32(family, runtime, precision, family_model_dir, reference, exports):
    if precision == "bf16" and not cpu_has_native_bf16():
        pytest.skip("OpenVINO bf16 needs a CPU with native bf16 (and refuses otherwise)")
    ref = reference(family)
    encoder = ClipEncoder.load(
        str(family_model_dir(family)), runtime=runtime, precision=precision, threads=1, export_cache=exports
    )
    assert (encoder.runtime, encoder.precision, encoder.dim) == (runtime, precision, ref.dim)
    assert encoder.identity == ref.identity and encoder.context_length == ref.context_length
    pixels = np.random.default_rng(1).standard_normal((5, 3, 224, 224)).astype(np.float32)
    image_cos = np.sum(encoder.encode_pixels(pixels) * ref.encode_pixels(pixels), axis=1)
    ours, theirs = encoder.encode_texts(TEXTS), ref.encode_texts(TEXTS)
    text_cos = np.sum(ours.vectors * theirs.vectors, axis=1)
    assert (ours.truncated, ours.token_counts) == (theirs.truncated, theirs.token_counts)
    assert image_cos.min() >= BOUNDS[precision], image_cos.min()
    assert text_cos.min() >= BOUNDS[precision], text_cos.min()
    assert np.allclose(np.linalg.norm(ours.vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("family", ["clip", "siglip", "siglip2", "metaclip_2", "chinese_clip", "altclip"])
def test_the_exported_tokenizer_gives_the_same_ids(family, family_model_dir, reference, tmp_path):
    """tokenizer.json through the ``tokenizers`` library: the ids, masks, flags and counts of the torch path."""
    from clipvec.model.runtimes.tokens import FastTokens, save_fast_tokenizer, token_facts

    ref = reference(family)
    assert save_fast_tokenizer(ref.tokenizer, tmp_path)
    fast = FastTokens(tmp_path / "tokenizer.json", token_facts(ref._towers, ref.family.name))
    for batch in [TEXTS, TEXTS[:1], TEXTS[3:9], TEXTS[-4:], *([t] for t in TEXTS)]:
        ids, mask, truncated, counts = ref.tokenize(batch)
        got = fast.tokenize(batch)
        np.testing.assert_array_equal(got[0], ids.numpy())
        np.testing.assert_array_equal(got[1], mask.numpy())
        assert (got[2], got[3]) == (truncated, counts)


def test_a_cached_export_loads_without_torch_or_transformers(tiny_model_dir, exports):
    ClipEncoder.load(str(tiny_model_dir), runtime="onnxruntime", export_cache=exports)  # exported here
    code = (
        "import sys; from pathlib import Path; from clipvec.model.encoder import ClipEncoder; "
        f"e = ClipEncoder.load({str(tiny_model_dir)!r}, runtime='onnxruntime', export_cache=Path({str(exports)!r})); "
        "e.encode_text('a dog'); print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_serving_core_runs_on_onnxruntime(tiny_model_dir, serving_encoder, tmp_path, exports):
    """The service's core, made from settings with CLIPVEC_RUNTIME=onnxruntime: its answers match torch's."""
    from serving_fixtures import jpeg_bytes, serving_settings

    from clipvec.search import SearchOptions
    from clipvec.serving.core import ServingCore

    settings = serving_settings(tmp_path, tiny_model_dir, runtime="onnxruntime", export_cache=str(exports))
    core = ServingCore.from_settings(settings)
    try:
        assert core.encoder.runtime == "onnxruntime"
        text = core.vectorize_text("a red circle")
        want = serving_encoder.encode_text("a red circle")[0]
        assert float(np.dot(text["vector"], want)) > 0.9999
        image = core.vectorize_image(jpeg_bytes())
        assert len(image["vector"]) == serving_encoder.dim
        added = core.add_image(jpeg_bytes(), "red.jpg")
        assert added["created"] is True
        hits = core.search_text("a red circle", SearchOptions(top_k=1))["hits"]
        assert [hit["path"] for hit in hits] == [added["path"]]
        assert abs(hits[0]["score"] - float(np.dot(image["vector"], text["vector"]))) < 1e-4
    finally:
        core.close()
