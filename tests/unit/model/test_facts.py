"""What a checkpoint is, read from its config.json without weights and without the hub."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hub_cache import cache_hub_model, use_empty_hub_cache

from clipvec.errors import ModelLoadError
from clipvec.images.preprocess import OPENAI_CLIP_MEAN, Preprocessor
from clipvec.model.facts import ModelFacts, facts_at_hand, recorded_model_name, require_facts
from clipvec.model.shapes import SHAPES_MODEL


@pytest.fixture
def hub_cache(monkeypatch, tmp_path) -> Path:
    return use_empty_hub_cache(monkeypatch, tmp_path)


def write_config(folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_facts_of_a_tiny_random_checkpoint_match_the_model_that_loads(tiny_model_dir):
    from clipvec.model.encoder import ClipEncoder

    facts = facts_at_hand(str(tiny_model_dir))
    assert facts == ModelFacts(
        name=str(tiny_model_dir.resolve()), dim=512, image_size=224, folder=tiny_model_dir.resolve()
    )
    encoder = ClipEncoder.load(str(tiny_model_dir), precision="fp32")
    assert (encoder.name, encoder.dim) == (facts.name, facts.dim)
    assert encoder.preprocessor == facts.preprocessor() == Preprocessor(224, 224, 224)


def test_the_shapes_model_takes_64px_images_and_gives_64_d_vectors():
    facts = require_facts(str(SHAPES_MODEL))
    assert (facts.dim, facts.image_size) == (64, 64)
    assert facts.preprocessor() == Preprocessor(64, 64, 64)


def test_the_preprocessor_comes_from_preprocessor_config_json_else_clip_defaults(tmp_path):
    config = {"model_type": "clip", "projection_dim": 256, "vision_config": {"image_size": 240}}
    bare = write_config(tmp_path / "bare", config)
    assert facts_at_hand(str(bare)).preprocessor() == Preprocessor(240, 240, 240)

    own = write_config(tmp_path / "own", config)
    (own / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "size": {"shortest_edge": 256},
                "crop_size": {"height": 240, "width": 240},
                "image_mean": [0.5] * 3,
            }
        )
    )
    pre = facts_at_hand(str(own)).preprocessor()
    assert (pre.resize_to, pre.crop_height, pre.crop_width) == (256, 240, 240)
    assert pre.mean == (0.5, 0.5, 0.5) and pre.std != pre.mean


def test_what_config_json_leaves_out_is_what_transformers_fills_in(tmp_path):
    from transformers import CLIPConfig

    folder = write_config(tmp_path / "clip", {"model_type": "clip"})
    facts = facts_at_hand(str(folder))
    loaded = CLIPConfig.from_pretrained(folder)
    assert (facts.dim, facts.image_size) == (loaded.projection_dim, loaded.vision_config.image_size)
    assert facts.preprocessor().mean == OPENAI_CLIP_MEAN


def test_a_folder_without_config_has_no_facts_and_the_requirement_says_what_to_do(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    assert facts_at_hand(str(folder)) is None
    with pytest.raises(ModelLoadError) as err:
        require_facts(str(folder))
    assert f"the folder {folder} is not a usable CLIP checkpoint: no config.json" in err.value.detail
    assert "clipvec make-model ./random-clip" in err.value.detail
    assert err.value.code == "model_unavailable"


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ('{"model_type": "clip", "projection_dim": "wide"}', "config.json cannot be read"),
        ("{not json", "config.json cannot be read"),
        ("[1, 2]", "config.json cannot be read: it is not a JSON object"),
    ],
)
def test_a_config_that_is_not_clips_gives_no_facts(tmp_path, config, reason):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(config)
    assert facts_at_hand(str(folder)) is None
    with pytest.raises(ModelLoadError, match=reason):
        require_facts(str(folder))


def test_a_hub_id_in_an_empty_hf_cache_is_not_at_hand_and_nothing_is_downloaded(hub_cache, tmp_path):
    assert facts_at_hand("no-such-org/no-such-clip") is None
    with pytest.raises(
        ModelLoadError, match="it is not a local folder and it is not in the Hugging Face cache"
    ):
        require_facts("no-such-org/no-such-clip")
    with pytest.raises(ModelLoadError, match="there is no folder"):
        require_facts(str(tmp_path / "nowhere"))
    assert list(hub_cache.iterdir()) == []


def test_a_cached_hub_id_keeps_its_name_and_reads_the_cached_copy(hub_cache):
    snapshot = cache_hub_model(hub_cache, "shapes-org/shapes-clip", SHAPES_MODEL)
    facts = facts_at_hand("shapes-org/shapes-clip")
    assert facts == ModelFacts(
        name="shapes-org/shapes-clip", dim=64, image_size=64, folder=snapshot.resolve()
    )
    assert require_facts("shapes-org/shapes-clip") == facts


def test_recorded_names_a_local_folder_absolute_wherever_it_was_named_from(tmp_path, monkeypatch):
    folder = tmp_path / "models" / "clip"
    shutil.copytree(SHAPES_MODEL, folder)
    monkeypatch.chdir(tmp_path)
    absolute = str(folder.resolve())
    for spelling in ("models/clip", "./models/clip", "models/../models/clip", absolute):
        assert recorded_model_name(spelling) == absolute
        assert facts_at_hand(spelling) == facts_at_hand(absolute)
        assert facts_at_hand(spelling).folder == folder.resolve()
    monkeypatch.chdir(folder.parent)
    assert recorded_model_name("clip") == absolute
    # Hub ids, and names that are no folder here, are recorded as given.
    assert recorded_model_name("openai/clip-vit-base-patch32") == "openai/clip-vit-base-patch32"
    assert recorded_model_name("models/none") == "models/none"


def test_required_facts_are_kept_once_found_and_looked_for_again_until_then(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    with pytest.raises(ModelLoadError):
        require_facts(str(folder))
    write_config(folder, {"model_type": "clip", "projection_dim": 32})
    assert require_facts(str(folder)).dim == 32  # the miss was not kept
    write_config(folder, {"model_type": "clip", "projection_dim": 16})
    assert require_facts(str(folder)).dim == 32  # read once per process
    assert facts_at_hand(str(folder)).dim == 16  # read now
