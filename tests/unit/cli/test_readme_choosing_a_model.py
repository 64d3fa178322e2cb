"""Issue 18.7: README's "Choosing a model" names every family and its commands still parse.

The section is what a person reads before switching models: it must cover every family
clipvec supports (a new family without a line there is caught here), the ways to select one,
the one-collection-per-model rule, offline use and what ``min_score`` means; and its
``clipvec`` command lines must be accepted by today's parser (a renamed flag breaks them).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from clipvec.cli.parser import build_parser
from clipvec.model.family import FAMILIES

README = Path(__file__).resolve().parents[3] / "README.md"


def section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Choosing a model\n")
    return text[start : text.index("\n## ", start + 1)]


def test_every_supported_family_has_a_row():
    body = section()
    for family in FAMILIES:
        assert f"| `{family.name}`" in body, family.name
    assert "SigLIP 2" in body and "NaFlex" in body


@pytest.mark.parametrize(
    "needed",
    ["CLIPVEC_MODEL", "clipvec init --model", "CLIPVEC_COLLECTION", "--collection", "clipvec drop"]
    + ["model_mismatch", "hf download", "HF_HUB_OFFLINE=1", "min_score", "cosine", "sigmoid"],
)
def test_the_section_says_how(needed):
    assert needed in section()


def test_its_clipvec_commands_parse():
    lines = [
        line.split("#", 1)[0].strip()
        for block in re.findall(r"```bash\n(.*?)```", section(), flags=re.S)
        for line in block.splitlines()
    ]
    commands = [shlex.split(line) for line in lines if "clipvec " in line]
    assert len(commands) >= 2
    parser = build_parser()
    for words in commands:
        argv = words[words.index("clipvec") + 1 :]
        parser.parse_args(argv)  # SystemExit (a failure here) on an unknown command or flag
