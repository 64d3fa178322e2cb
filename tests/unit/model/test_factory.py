"""Random CLIP folders built locally load like hub checkpoints, with OpenAI's real tokenizer."""

from __future__ import annotations

import pytest

from clipvec.model.checkpoint import folder_problems
from clipvec.model.factory import CONTEXT_LENGTH, build_tokenizer, make_random_model
from clipvec.model.facts import facts_at_hand


def test_the_bundled_tokenizer_gives_openais_ids():
    tokenizer = build_tokenizer()
    assert tokenizer("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert len(tokenizer) == 49408 and tokenizer.model_max_length == CONTEXT_LENGTH


def test_a_tiny_random_model_is_a_complete_checkpoint_with_clips_input_and_output(tiny_model_dir):
    assert folder_problems(tiny_model_dir) == []
    facts = facts_at_hand(str(tiny_model_dir))
    assert (facts.dim, facts.image_size) == (512, 224)
    assert (tiny_model_dir / "preprocessor_config.json").is_file()


def test_the_same_seed_builds_the_same_weights(tmp_path):
    first = make_random_model(tmp_path / "a", size="tiny", seed=3)
    second = make_random_model(tmp_path / "b", size="tiny", seed=3)
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()


def test_an_unknown_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        make_random_model(tmp_path, size="huge")  # type: ignore[arg-type]
