"""Issue 18.1: the model family comes from config.json's model_type; a family clipvec does not run
is refused in one line naming the supported ones, before any weights are read."""

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
from clipvec.model.family import (
    ALTCLIP,
    CHINESE_CLIP,
    CLIP,
    FAMILIES,
    METACLIP_2,
    SIGLIP,
    family_named,
    family_of,
    supported,
)
from clipvec.model.shapes import SHAPES_MODEL

SUPPORTED_SAID = "clipvec supports only these model families today: " + supported()


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
@pytest.mark.parametrize(
    ("model_type", "family"),
    [
        ("clip", CLIP),
        ("siglip", SIGLIP),  # SigLIP, and SigLIP 2 at a fixed resolution (google/siglip2-*-224 ...)
        ("metaclip_2", METACLIP_2),
        ("chinese_clip", CHINESE_CLIP),
        ("altclip", ALTCLIP),
    ],
)
def test_each_family_is_read_from_its_model_type(model_type, family):
    assert family_of({"model_type": model_type}, "m") is family
    assert family_named(family.name) is family
    assert f"{family.name} ({family.shown}: model_type {model_type!r})" in supported()


def test_the_families_table_is_consistent():
    assert FAMILIES == (CLIP, SIGLIP, METACLIP_2, CHINESE_CLIP, ALTCLIP)
    assert family_named("siglip2") is None and family_named("blip") is None
    model_types = [t for f in FAMILIES for t in f.model_types]
    assert len(model_types) == len(set(model_types))
    assert len({f.name for f in FAMILIES}) == len(FAMILIES)
    # Where the vector length is: CLIP-like projection_dim, SigLIP's vision hidden size.
    assert CLIP.vector_dim({}) == 512 and CLIP.vector_dim({"projection_dim": 768}) == 768
    assert (
        SIGLIP.vector_dim({}) == 768 and SIGLIP.vector_dim({"vision_config": {"hidden_size": 1152}}) == 1152
    )
    assert SIGLIP.vector_dim({"projection_dim": 512}) == 768  # not read for SigLIP
    assert ALTCLIP.vector_dim({}) == 768
    assert (SIGLIP.text_padding, SIGLIP.text_tokens) == ("max_length", 64)
    assert {f.text_padding for f in FAMILIES if f is not SIGLIP} == {"longest"}


def test_siglip2_naflex_is_refused_in_one_line_saying_why():
    """model_type siglip2 is SigLIP 2 NaFlex (variable resolution): refused, with the reason and the way out."""
    with pytest.raises(UnsupportedModelFamily) as err:
        family_of({"model_type": "siglip2"}, "google/siglip2-base-patch16-naflex")
    detail = err.value.detail
    assert "\n" not in detail and err.value.code == "model_unavailable"
    assert detail.startswith("the model google/siglip2-base-patch16-naflex has model_type 'siglip2'")
    assert "NaFlex" in detail and "not supported" in detail and "fixed-resolution" in detail
    assert "variable number of patches" in detail and SUPPORTED_SAID in detail


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ({"model_type": "blip"}, "has model_type 'blip' in its config.json"),
        ({"model_type": "owlvit"}, "has model_type 'owlvit' in its config.json"),
        ({"model_type": "SIGLIP"}, "has model_type 'SIGLIP' in its config.json"),
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


@pytest.mark.parametrize("model_type", ["blip", "siglip2", "clip_vision_model", ...])
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

    folder = checkpoint_of(tmp_path / "m", "blip", corrupt_weights=True)
    with pytest.raises(UnsupportedModelFamily) as err:
        ClipEncoder.load(str(folder), device="cpu", precision="fp32", threads=1)
    assert_family_error(err.value, "has model_type 'blip' in its config.json")


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
    assert family_at_hand("Salesforce/blip-itm-base-coco") is None  # not here: nothing downloaded
    blip = checkpoint_of(tmp_path / "blip", "blip", corrupt_weights=True)
    cache_hub_model(cache, "Salesforce/blip-itm-base-coco", blip)
    for ask in (family_at_hand, resolve_model):
        with pytest.raises(UnsupportedModelFamily) as err:
            ask("Salesforce/blip-itm-base-coco")
        assert_family_error(err.value, "the model Salesforce/blip-itm-base-coco has model_type 'blip'")


def test_a_collection_naming_another_familys_checkpoint_is_not_recognised(tmp_path):
    """A collection made before content ids names a folder that now holds another family's model."""
    folder = checkpoint_of(tmp_path / "m", "blip", corrupt_weights=True)
    assert ModelIdentity("/some/clip", 64, "sha256:aaa").recognises(str(folder)) is False


def test_a_hub_download_fetches_config_json_first_and_stops_at_another_family(monkeypatch, tmp_path):
    """Another family's weights are never downloaded: its config.json is fetched alone first.

    The hub is a local folder served through ``snapshot_download``'s own signature.
    """
    import huggingface_hub

    use_empty_hub_cache(monkeypatch, tmp_path)
    repos = {
        "google/siglip2-base-patch16-naflex": checkpoint_of(tmp_path / "naflex", "siglip2"),
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
        resolve_model("google/siglip2-base-patch16-naflex")
    assert_family_error(err.value, "the model google/siglip2-base-patch16-naflex has model_type 'siglip2'")
    assert asked == [("google/siglip2-base-patch16-naflex", ("config.json",))]
    assert not (tmp_path / "downloads" / "google/siglip2-base-patch16-naflex" / "model.safetensors").exists()

    asked.clear()
    folder = resolve_model("org/clip")  # a CLIP one: config.json, then the rest
    assert [patterns for _, patterns in asked] == [
        ("config.json",),
        ("*.json", "*.txt", "*.model", "*.safetensors"),
    ]
    assert (folder / "model.safetensors").is_file() and family_at_hand(str(folder)) is CLIP
