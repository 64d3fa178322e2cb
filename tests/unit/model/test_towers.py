"""Issue 18.3: each family's texts: its token limit, its padding, truncation reported, and
queries in any script go through its tokenizer unchanged."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from clipvec.model.encoder import ClipEncoder
from clipvec.model.family import ALTCLIP, CHINESE_CLIP, SIGLIP
from clipvec.model.towers import HUGE_LIMIT, text_limit

# Non-Latin scripts, emoji (a ZWJ family, a skin tone, a variation selector) and combining marks.
QUERIES = [
    "猫坐在红色的沙发上 🐱",
    "赤いソファの上の猫、さくら",
    "кошка на диване",
    "빨간 소파 위의 고양이",
    "قطة على أريكة حمراء",
    "लाल सोफे पर बिल्ली",
    "👨‍👩‍👧 🎂 👍🏽 ❤️",
    "cre\u0300me bru\u0302le\u0301e",  # decomposed accents
]
LIMITS = {"siglip": 64, "siglip2": 64, "metaclip_2": 77, "chinese_clip": 52, "altclip": 77}


def load(family_model_dir, family: str) -> ClipEncoder:
    return ClipEncoder.load(str(family_model_dir(family)), device="cpu", precision="fp32", threads=1)


@pytest.mark.parametrize("family", ["metaclip_2", "altclip", "chinese_clip", "siglip2"])
def test_a_query_in_any_script_reaches_the_tokenizer_unchanged(family_model_dir, family):
    encoder = load(family_model_dir, family)
    own = AutoTokenizer.from_pretrained(family_model_dir(family))
    ids, mask, truncated, counts = encoder.tokenize(QUERIES)
    for row, query in enumerate(QUERIES):
        expected = own(query)["input_ids"]
        kept = ids[row][mask[row].bool()].tolist()
        assert kept == expected, query
        assert counts[row] == len(expected) and not truncated[row]
        assert own.unk_token_id not in expected, (query, own.convert_ids_to_tokens(expected))
    vectors = encoder.encode_texts(QUERIES).vectors
    assert len({tuple(v.round(4)) for v in vectors}) == len(QUERIES)  # each its own vector


@pytest.mark.parametrize("family", sorted(LIMITS))
def test_long_texts_are_cut_to_the_familys_limit_and_reported(family_model_dir, family):
    encoder = load(family_model_dir, family)
    limit = LIMITS[family]
    assert encoder.context_length == limit
    long_text = "猫 dog " * 300
    ids, mask, truncated, counts = encoder.tokenize([long_text, "dog"])
    assert truncated == [True, False] and counts[0] > limit
    assert int(mask[0].sum()) == limit  # cut to the limit, no further
    own = AutoTokenizer.from_pretrained(family_model_dir(family))
    expected = own(long_text, truncation=True, max_length=limit)["input_ids"]
    assert ids[0][mask[0].bool()].tolist() == expected  # the end token kept, as the tokenizer cuts
    enc = encoder.encode_texts([long_text])
    assert enc.truncated == [True] and enc.token_counts == counts[:1]


def test_a_huge_text_without_spaces_is_cut_before_tokenizing(family_model_dir):
    """5 MB of CJK (no spaces at all) is cut to the characters the limit can use, not tokenized whole."""
    encoder = load(family_model_dir, "chinese_clip")
    enc = encoder.encode_texts(["猫" * 5_000_000])
    assert enc.truncated == [True] and enc.token_counts[0] < 10_000


def test_siglip_always_pads_to_its_64_tokens_others_to_the_longest(family_model_dir):
    siglip = load(family_model_dir, "siglip")
    ids, mask, _, counts = siglip.tokenize(["dog"])
    assert ids.shape == (1, 64) and counts == [2]  # "▁dog" + "</s>", then </s> padding
    for family in ("metaclip_2", "chinese_clip", "altclip"):
        ids, _, _, counts = load(family_model_dir, family).tokenize(["dog", "a dog on the beach"])
        assert ids.shape[1] == max(counts), family


def test_the_vector_length_is_each_familys(family_model_dir):
    assert load(family_model_dir, "siglip").dim == 32  # its towers' width: no projection_dim
    assert load(family_model_dir, "altclip").dim == 768
    assert load(family_model_dir, "metaclip_2").dim == 512


class Tokenizer:
    def __init__(self, model_max_length: int) -> None:
        self.model_max_length = model_max_length


class Model:
    def __init__(self, positions: int) -> None:
        text_config = type("TextConfig", (), {"max_position_embeddings": positions})
        self.config = type("Config", (), {"text_config": text_config})


def test_the_token_limit_is_the_tokenizers_within_the_towers_positions():
    assert text_limit(Model(512), Tokenizer(int(1e30)), CHINESE_CLIP) == 52  # unset: the family's
    assert text_limit(Model(512), Tokenizer(64), CHINESE_CLIP) == 64
    assert text_limit(Model(514), Tokenizer(HUGE_LIMIT), ALTCLIP) == 77
    assert text_limit(Model(514), Tokenizer(10_000), ALTCLIP) == 512  # RoBERTa: 2 positions reserved
    assert text_limit(Model(64), Tokenizer(1_000), SIGLIP) == 64


def test_a_siglip_tokenizer_without_an_attention_mask_means_no_mask(family_model_dir):
    """Mirror the processor: a tokenizer that gives no mask -> the tower sees none (all ones is the same)."""
    encoder = load(family_model_dir, "siglip")
    with_mask = encoder.encode_texts(["a dog"]).vectors
    encoder._towers._masked = False
    _, mask, _, _ = encoder.tokenize(["a dog"])
    assert bool(mask.all())
    model, tokens = encoder.model, encoder.tokenizer(["a dog"], padding="max_length", max_length=64)
    with torch.no_grad():
        ref = model.get_text_features(input_ids=torch.tensor(tokens["input_ids"])).pooler_output
    ref = torch.nn.functional.normalize(ref, dim=-1).numpy()
    assert (encoder.encode_texts(["a dog"]).vectors * ref).sum() >= 0.9999
    assert (with_mask * ref).sum() < 0.9999  # and the mask does matter to SigLIP


def test_a_siglip_checkpoint_as_google_ships_it_loads_and_pads_like_its_processor(family_model_dir, tmp_path):
    """google/siglip-* hold only ``spiece.model`` (SiglipTokenizer, sentencepiece): no tokenizer.json."""
    import shutil

    import sentencepiece as spm
    from transformers import SiglipTokenizer

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(
        "\n".join(["a photo of a dog", "a red circle on white", "un chien", "猫の写真 🐶"] * 50)
    )
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(tmp_path / "spiece"),
        vocab_size=40,
        hard_vocab_limit=False,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        minloglevel=2,
    )
    folder = tmp_path / "siglip-as-shipped"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "preprocessor_config.json"):
        shutil.copy(family_model_dir("siglip") / name, folder / name)
    SiglipTokenizer(vocab_file=str(tmp_path / "spiece.model"), model_max_length=64).save_pretrained(folder)
    assert not (folder / "tokenizer.json").exists()

    encoder = ClipEncoder.load(str(folder), device="cpu", precision="fp32", threads=1)
    ids, _, _, _ = encoder.tokenize(["a photo of a dog"])
    own = SiglipTokenizer.from_pretrained(folder)
    expected = own(["a photo of a dog"], padding="max_length", max_length=64)["input_ids"]
    assert ids.tolist() == expected
