"""``clipvec --help``'s text: what it shows, and that its first steps name real commands."""

from __future__ import annotations

import re
import shlex

from clipvec.cli.help_text import DESCRIPTION, EPILOG
from clipvec.cli.parser import build_parser


def subcommands() -> set[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return set(actions[0].choices)


def test_help_shows_the_description_and_the_first_steps():
    shown = build_parser().format_help()
    assert DESCRIPTION.splitlines()[0] in shown
    assert "first steps:" in shown and "clipvec import ~/Pictures" in shown


def test_every_first_step_is_a_command_that_exists():
    steps = re.findall(r"^  clipvec (\S+)", EPILOG, flags=re.MULTILINE)
    assert len(steps) >= 7
    assert set(steps) <= subcommands(), set(steps) - subcommands()


def test_every_first_step_parses_as_written():
    parser = build_parser()
    for line in EPILOG.splitlines():
        if line.startswith("  clipvec "):
            command = re.split(r"\s{2,}", line.strip())[0]  # without the comment after it
            parser.parse_args(shlex.split(command)[1:])
