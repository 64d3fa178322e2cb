"""Small tokenizers of each family's kind, built here without the Hugging Face hub.

For the random-weight checkpoints ``model/factory.py`` writes: the vocabularies are small (a
few thousand pieces) but the tokenizers are of the family's real kind, with its special tokens
where the model expects them, so padding, truncation and pooling behave as with the released
checkpoint. The text they are built from holds several scripts, CJK characters, emoji and
combining marks, so a multilingual query gives real pieces, not unknown tokens.

* SigLIP: a SentencePiece-style Unigram (T5's tokenizer class: SigLIP's own class needs the
  ``sentencepiece`` package and a binary model file), ``</s>`` as end and padding token.
* SigLIP 2: Gemma's BPE with byte fallback (what google/siglip2-* ship).
* MetaCLIP 2 and AltCLIP: XLM-RoBERTa's Unigram (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3).
* Chinese-CLIP: BERT's WordPiece, one piece per CJK character (as the Chinese BERT vocabulary).
"""

from __future__ import annotations

import unicodedata

from clipvec.model.chatter import before_transformers

# Several scripts, emoji (with a ZWJ sequence and a skin tone), combining marks (decomposed
# accents, Devanagari vowel signs), and the words of typical photo searches.
TRAINING_TEXT = """
a photo of a cat sitting on a red sofa. a dog running on the beach at sunset. mountains with snow
and a lake, my family at the birthday party, a bowl of noodles, a bicycle in the rain, the city
at night, flowers in the garden, a child playing football, coffee cup on a wooden table, rocket
un chat sur le canapé rouge, café au lait, crème brûlée, naïve façade, über die Straße, Mädchen
un perro en la playa, niño jugando al fútbol, señor, coração, ação
кошка на диване, собака на пляже, горы и озеро, день рождения
猫坐在红色的沙发上，海滩上的狗，日落时的山，生日聚会，一碗面条，雨中的自行车，夜晚的城市，花园里的花
赤いソファの上の猫、海辺の犬、夕焼けの山、誕生日パーティー、ラーメン、東京の夜景、さくら、ねこ、いぬ
빨간 소파 위의 고양이, 해변의 개, 생일 파티, 서울의 밤, 꽃
قطة على أريكة حمراء، كلب على الشاطئ، غروب الشمس
लाल सोफे पर बिल्ली, समुद्र तट पर कुत्ता, जन्मदिन की पार्टी
γάτα στον καναπέ, σκύλος στην παραλία
חתול על ספה אדומה
แมวบนโซฟาสีแดง
🐱 🐶 🌅 🎂 🍜 🚲 🌃 🌸 ⚽ ☕ 🚀 👨‍👩‍👧 👍🏽 ❤️ 😀 🏔️
"""


def _text() -> str:
    """The training text, with decomposed (combining-mark) forms of its accented letters too."""
    return TRAINING_TEXT + "\n" + unicodedata.normalize("NFD", TRAINING_TEXT)


def _words_and_chars() -> tuple[list[str], list[str]]:
    text = _text()
    words = sorted({w.strip(".,，、،") for w in text.split()} - {""})
    chars = sorted({c for c in text if not c.isspace()})
    return words, chars


def _unigram_pieces() -> list[tuple[str, float]]:
    """SentencePiece-style pieces: whole words (``▁word``), then every character alone and word-initial."""
    words, chars = _words_and_chars()
    pieces = [("▁", -3.0)]
    pieces += [("▁" + w, -5.0 - 0.1 * len(w)) for w in words]
    pieces += [(c, -10.0) for c in chars] + [("▁" + c, -9.0) for c in chars]
    seen: set[str] = set()
    return [p for p in pieces if not (p[0] in seen or seen.add(p[0]))]  # first of each


def siglip_tokenizer(max_length: int):
    """T5-style Unigram with SigLIP's tokens: ``</s>`` ends every text and pads it."""
    before_transformers()
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), *_unigram_pieces()]
    return T5Tokenizer(vocab=vocab, pad_token="</s>", extra_ids=0, model_max_length=max_length)


def gemma_tokenizer(max_length: int):
    """Gemma-style BPE with byte fallback (SigLIP 2): one piece per character, bytes for the rest."""
    before_transformers()
    from transformers import GemmaTokenizer

    _, chars = _words_and_chars()
    tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "▁"]
    tokens += [f"<0x{b:02X}>" for b in range(256)] + [c for c in chars if c not in tokens]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    tokenizer = GemmaTokenizer(vocab=vocab, merges=[], model_max_length=max_length)
    tokenizer.padding_side = "right"  # as google/siglip2-*: the text tower pools the last position
    return tokenizer


def xlm_roberta_tokenizer(max_length: int):
    """XLM-RoBERTa-style Unigram (MetaCLIP 2's XLM-V, AltCLIP's XLM-R)."""
    before_transformers()
    from transformers import XLMRobertaTokenizer

    specials = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab = [*specials, *_unigram_pieces(), ("<mask>", 0.0)]
    return XLMRobertaTokenizer(vocab=vocab, model_max_length=max_length)


def bert_chinese_tokenizer(max_length: int):
    """BERT WordPiece as Chinese BERT's: CJK characters one by one, lower-cased words, ``##`` pieces."""
    before_transformers()
    from transformers import BertTokenizer

    words, chars = _words_and_chars()
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += [w.lower() for w in words] + chars + ["##" + c for c in chars]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    return BertTokenizer(vocab=vocab, model_max_length=max_length)
