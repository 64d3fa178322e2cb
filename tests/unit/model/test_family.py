"""Issue 18.1: the model family comes from config.json's model_type; another family is refused
in one line naming the supported ones, before any weights are read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hub_cache import cache_hub_model, use_empty_hub_cache

from clipvec.errors import ModelLoadError, UnsupportedModelFamily
from clipvec.model import checkpoint
from clipvec.model.checkpoint import family_at_hand, folder_problems, resolve_model
from clipvec.model.facts import ModelIdentity, facts_at_hand, require_facts
from clipvec.model.family import CLIP, FAMILIES, family_named, family_of, supported
from clipvec.model.shapes import SHAPES_MODEL

SUPPORTED_SAID = "clipvec supports only these model families today: clip (model_type 'clip')"


def checkpoint_of(folder: Path, model_type: object, *, corrupt_weights: bool = False) -> Path:
    """A copy of the shapes CLIP whose config.json says ``model_type`` (absent for ``...``)."""
    shutil.copytree(SHAPES_MODEL, folder)
    config = json.loads((folder / "config.json").read_text())
    config.pop("model_type")
    if model_type is not ...:
        config["model_type"] = model_type
    (folder / "config.json").write_text(json.dumps(config))
    if corrupt_weights:
        (folder / "model.safetensors").write_bytes(b"\xff" * 64)  # no safetensors header at all
    return folder


def assert_family_error(err: ModelLoadError, said: str) -> None:
    assert isinstance(err, UnsupportedModelFamily)
    assert err.code == "model_unavailable" and err.status == 503
    assert "\n" not in err.detail, err.detail
    assert said in err.detail and SUPPORTED_SAID in err.detail


# --------------------------------------------------------------------------- the table
def test_clip_is_the_only_family_and_each_model_type_has_one_family():
    assert FAMILIES == (CLIP,)
    assert family_of({"model_type": "clip"}, "m") is CLIP
    assert family_named("clip") is CLIP and family_named("siglip") is None
    model_types = [t for f in FAMILIES for t in f.model_types]
    assert len(model_types) == len(set(model_types))
    assert len({f.name for f in FAMILIES}) == len(FAMILIES)
    assert supported() == "clip (model_type 'clip')"


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ({"model_type": "siglip"}, "has model_type 'siglip' in its config.json"),
        ({"model_type": "siglip2"}, "has model_type 'siglip2' in its config.json"),
        ({"model_type": "chinese_clip"}, "has model_type 'chinese_clip' in its config.json"),
        ({"model_type": "altclip"}, "has model_type 'altclip' in its config.json"),
        ({"model_type": "metaclip_2"}, "has model_type 'metaclip_2' in its config.json"),
        ({"model_type": "CLIP"}, "has model_type 'CLIP' in its config.json"),
        ({"model_type": ""}, "has model_type '' in its config.json"),
        ({"model_type": 42}, "has model_type 42 in its config.json"),
        ({"model_type": ["clip"]}, "has model_type ['clip'] in its config.json"),
        ({"model_type": None}, "has no model_type in its config.json"),
        ({"projection_dim": 512}, "has no model_type in its config.json"),
    ],
)
def test_another_family_is_one_line_naming_the_supported_ones(config, said):
    with pytest.raises(UnsupportedModelFamily) as err:
        family_of(config, "org/some-model")
    assert_family_error(err.value, said)
    assert err.value.detail.startswith("the model org/some-model ")


# --------------------------------------------------------------------------- checkpoint folders
def test_a_clip_folder_is_clip_and_its_facts_and_identity_say_so():
    assert family_at_hand(str(SHAPES_MODEL)) is CLIP
    facts = require_facts(str(SHAPES_MODEL))
    assert facts.family == "clip"
    assert facts.identity().family == "clip"
    assert facts.identity().store_options()["family"] == "clip"


@pytest.mark.parametrize("model_type", ["siglip", "siglip2", "chinese_clip", "altclip", ...])
def test_no_weights_are_read_for_another_family(tmp_path, model_type):
    """Corrupt weights would be refused as such: the family is refused first, by every reader."""
    folder = checkpoint_of(tmp_path / "m", model_type, corrupt_weights=True)
    said = (
        f"has model_type {model_type!r} in its config.json" if model_type is not ... else "has no model_type"
    )
    for ask in (family_at_hand, resolve_model, facts_at_hand, require_facts):
        with pytest.raises(UnsupportedModelFamily) as err:
            ask(str(folder))
        assert_family_error(err.value, said)
        assert str(folder) in err.value.detail
    with pytest.raises(UnsupportedModelFamily):
        folder_problems(folder)


def test_the_encoder_refuses_another_family_before_its_weights(tmp_path):
    from clipvec.model.encoder import ClipEncoder

    folder = checkpoint_of(tmp_path / "m", "siglip", corrupt_weights=True)
    with pytest.raises(UnsupportedModelFamily) as err:
        ClipEncoder.load(str(folder), device="cpu", precision="fp32", threads=1)
    assert_family_error(err.value, "has model_type 'siglip' in its config.json")


def test_the_encoder_knows_its_family():
    from clipvec.model.encoder import ClipEncoder

    encoder = ClipEncoder.load(str(SHAPES_MODEL), device="cpu", precision="fp32", threads=1)
    assert encoder.family is CLIP
    assert encoder.identity.store_options()["family"] == "clip"


@pytest.mark.parametrize("text", [None, "{", "[1, 2]"])
def test_a_missing_or_broken_config_is_said_as_before_not_as_a_family(tmp_path, text):
    folder = checkpoint_of(tmp_path / "m", "clip")
    if text is None:
        (folder / "config.json").unlink()
    else:
        (folder / "config.json").write_text(text)
    assert family_at_hand(str(folder)) is None  # the load says why, with the ways out
    with pytest.raises(ModelLoadError) as err:
        resolve_model(str(folder))
    assert not isinstance(err.value, UnsupportedModelFamily)
    assert "no config.json" in err.value.detail or "config.json cannot be read" in err.value.detail
    assert "cannot load the CLIP model" in err.value.detail


def test_a_cached_hub_checkpoint_of_another_family_is_named_by_its_hub_id(monkeypatch, tmp_path):
    cache = use_empty_hub_cache(monkeypatch, tmp_path)
    assert family_at_hand("google/siglip-base-patch16-224") is None  # not here: nothing downloaded
    siglip = checkpoint_of(tmp_path / "siglip", "siglip", corrupt_weights=True)
    cache_hub_model(cache, "google/siglip-base-patch16-224", siglip)
    for ask in (family_at_hand, resolve_model):
        with pytest.raises(UnsupportedModelFamily) as err:
            ask("google/siglip-base-patch16-224")
        assert_family_error(err.value, "the model google/siglip-base-patch16-224 has model_type 'siglip'")


def test_a_collection_naming_another_familys_checkpoint_is_not_recognised(tmp_path):
    """A collection made before content ids names a folder that now holds another family's model."""
    folder = checkpoint_of(tmp_path / "m", "siglip", corrupt_weights=True)
    assert ModelIdentity("/some/clip", 64, "sha256:aaa").recognises(str(folder)) is False


def test_a_hub_download_fetches_config_json_first_and_stops_at_another_family(monkeypatch, tmp_path):
    """Another family's weights are never downloaded: its config.json is fetched alone first.

    The hub is a local folder served through ``snapshot_download``'s own signature.
    """
    import huggingface_hub

    use_empty_hub_cache(monkeypatch, tmp_path)
    repos = {
        "google/siglip-base-patch16-224": checkpoint_of(tmp_path / "siglip", "siglip"),
        "org/clip": checkpoint_of(tmp_path / "clip", "clip"),
    }
    asked: list[tuple[str, tuple[str, ...]]] = []

    def snapshot_download(repo_id, allow_patterns=None, local_files_only=False, **kwargs):
        if local_files_only:
            raise FileNotFoundError("not cached")  # the cache is empty: a download is needed
        asked.append((repo_id, tuple(allow_patterns)))
        snapshot = tmp_path / "downloads" / repo_id
        snapshot.mkdir(parents=True, exist_ok=True)
        for path in repos[repo_id].iterdir():
            if any(Path(path.name).match(pattern) for pattern in allow_patterns):
                shutil.copy(path, snapshot / path.name)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(checkpoint, "_hub_offline", lambda: False)
    monkeypatch.setattr(checkpoint, "hub_unreachable", lambda: None)
    with pytest.raises(UnsupportedModelFamily) as err:
        resolve_model("google/siglip-base-patch16-224")
    assert_family_error(err.value, "the model google/siglip-base-patch16-224 has model_type 'siglip'")
    assert asked == [("google/siglip-base-patch16-224", ("config.json",))]
    assert not (tmp_path / "downloads" / "google/siglip-base-patch16-224" / "model.safetensors").exists()

    asked.clear()
    folder = resolve_model("org/clip")  # a CLIP one: config.json, then the rest
    assert [patterns for _, patterns in asked] == [("config.json",), ("*.json", "*.txt", "*.safetensors")]
    assert (folder / "model.safetensors").is_file() and family_at_hand(str(folder)) is CLIP
