"""Finding a checkpoint's folder and checking its files before torch loads them."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from hub_cache import cache_hub_model, use_empty_hub_cache

from clipvec.errors import ModelLoadError
from clipvec.model import checkpoint
from clipvec.model.checkpoint import (
    UnusableConfig,
    folder_problems,
    hub_unreachable,
    local_folder,
    looks_like_path,
    read_model_config,
    resolve_model,
)
from clipvec.model.shapes import SHAPES_MODEL


@pytest.fixture
def hub_cache(monkeypatch, tmp_path) -> Path:
    return use_empty_hub_cache(monkeypatch, tmp_path)


@pytest.fixture
def shapes_copy(tmp_path) -> Path:
    model = tmp_path / "clip"
    shutil.copytree(SHAPES_MODEL, model)
    return model


# --------------------------------------------------------------------------- resolve_model
def test_a_local_checkpoint_folder_resolves_to_itself():
    assert resolve_model(str(SHAPES_MODEL)) == SHAPES_MODEL


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("cut", "model.safetensors is cut short"),
        ("no-config", "no config.json"),
        ("no-tokenizer", "no tokenizer files"),
    ],
)
def test_a_damaged_checkpoint_folder_is_refused_with_the_reason(tmp_path, damage, reason):
    model = tmp_path / "clip"
    shutil.copytree(SHAPES_MODEL, model)
    if damage == "cut":
        weights = model / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "no-config":
        (model / "config.json").unlink()
    else:
        (model / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError) as err:
        resolve_model(str(model))
    assert reason in err.value.detail
    assert "clipvec make-model ./random-clip" in err.value.detail


def test_a_hub_id_offline_and_a_missing_folder_say_what_to_do(tmp_path):
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE is set"):
        resolve_model("no-such-org/no-such-clip")
    with pytest.raises(ModelLoadError, match="there is no folder"):
        resolve_model(str(tmp_path / "nowhere"))


def test_a_cached_hub_id_resolves_to_its_copy_offline_and_a_damaged_copy_is_not_used(hub_cache):
    snapshot = cache_hub_model(hub_cache, "shapes-org/shapes-clip", SHAPES_MODEL)
    assert resolve_model("shapes-org/shapes-clip") == snapshot
    (snapshot / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE is set"):
        resolve_model("shapes-org/shapes-clip")  # offline, a broken copy cannot be replaced


def test_a_file_where_a_folder_was_expected_is_not_looked_up_on_the_hub(tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="there is no folder"):
        resolve_model(str(weights))


# --------------------------------------------------------------------------- folder_problems
def test_a_complete_checkpoint_has_no_problems(shapes_copy):
    assert folder_problems(shapes_copy) == []


def test_every_problem_of_a_folder_is_listed(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    assert folder_problems(folder) == [
        "no config.json",
        "no weights (model.safetensors or pytorch_model.bin)",
        "no tokenizer files (tokenizer.json, vocab.json and merges.txt, vocab.txt, or a SentencePiece *.model)",
    ]
    assert folder_problems(tmp_path / "nowhere") == [f"{tmp_path / 'nowhere'} is not a folder"]


def test_weights_that_are_not_what_their_name_says_are_refused(shapes_copy):
    (shapes_copy / "model.safetensors").write_bytes(b"\xff" * 64)
    assert folder_problems(shapes_copy) == ["model.safetensors is not a safetensors file (or is cut short)"]
    (shapes_copy / "model.safetensors").unlink()
    (shapes_copy / "pytorch_model.bin").write_bytes(b"not a zip file")
    assert folder_problems(shapes_copy) == ["pytorch_model.bin is not a PyTorch checkpoint (or is cut short)"]


def test_a_tokenizer_may_be_vocab_and_merges(shapes_copy):
    (shapes_copy / "tokenizer.json").unlink()
    (shapes_copy / "vocab.json").write_text("{}")
    assert folder_problems(shapes_copy) == [
        "no tokenizer files (tokenizer.json, vocab.json and merges.txt, vocab.txt, or a SentencePiece *.model)"
    ]
    (shapes_copy / "merges.txt").write_text("")
    assert folder_problems(shapes_copy) == []


# --------------------------------------------------------------------------- config.json
def test_the_config_is_read_when_it_is_clips(shapes_copy):
    assert read_model_config(shapes_copy)["projection_dim"] == 64
    (shapes_copy / "config.json").write_text(json.dumps({"model_type": "clip", "projection_dim": 8}))
    assert read_model_config(shapes_copy) == {"model_type": "clip", "projection_dim": 8}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "no config.json"),
        ("{", "config.json cannot be read: "),
        ("[1, 2]", "config.json cannot be read: it is not a JSON object"),
    ],
)
def test_an_unusable_config_says_why(shapes_copy, text, reason):
    config = shapes_copy / "config.json"
    if text is None:
        config.unlink()
    else:
        config.write_text(text)
    with pytest.raises(UnusableConfig) as err:
        read_model_config(shapes_copy)
    assert str(err.value).startswith(reason)
    assert folder_problems(shapes_copy) == [str(err.value)]


# --------------------------------------------------------------------------- local_folder
def test_the_local_folder_is_the_folder_or_the_hub_cache_never_a_download(hub_cache, shapes_copy):
    assert local_folder(str(shapes_copy)) == shapes_copy
    assert local_folder("shapes-org/shapes-clip") is None
    snapshot = cache_hub_model(hub_cache, "shapes-org/shapes-clip", SHAPES_MODEL)
    assert local_folder("shapes-org/shapes-clip") == snapshot
    assert local_folder(str(shapes_copy / "missing")) is None
    assert list((hub_cache).iterdir()) == [snapshot.parents[1]]


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("openai/clip-vit-base-patch32", False),
        ("clip", False),
        ("./clip", True),
        ("../models/clip", True),
        ("/srv/models/clip", True),
        ("~/clip", True),
        ("models/openai/clip", True),
        ("C:\\models\\clip", True),
    ],
)
def test_paths_are_told_from_hub_ids(model, path):
    assert looks_like_path(model) is path


# --------------------------------------------------------------------------- an unreachable hub (issue 22)
def closed_port() -> int:
    """A local port nothing listens on: a connection is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def hub_online_but_unreachable(monkeypatch, hub_cache):
    """HF_HUB_OFFLINE unset (the newcomer's case) and a hub that refuses connections."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_an_unreachable_hub_fails_in_a_second_with_the_ways_out(hub_online_but_unreachable, monkeypatch):
    """The libraries retry with backoff for ~30 s offline; one refused connection says it at once."""
    monkeypatch.setattr(checkpoint, "_download", lambda *a: pytest.fail("the hub libraries were asked"))
    with pytest.raises(ModelLoadError) as err:
        resolve_model("openai/clip-vit-base-patch32")
    assert "the hub cannot be reached (127.0.0.1:" in err.value.detail
    assert "Connection refused" in err.value.detail
    assert "make-model ./random-clip" in err.value.detail  # model_help's ways out


def test_the_probe_asks_the_proxy_when_one_is_set(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "https://huggingface.co")
    port = closed_port()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    assert hub_unreachable().startswith(f"127.0.0.1:{port}: ")


def test_a_reachable_hub_passes_the_probe(monkeypatch):
    from huggingface_hub import constants

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{listening.getsockname()[1]}")
        for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        assert hub_unreachable() is None
