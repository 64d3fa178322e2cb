"""The ``clipvec`` parser: prose help, subcommands and their flags, and flags -> ``Settings``."""

from __future__ import annotations

from pathlib import Path

import pytest

from clipvec import cli
from clipvec.cli.parser import build_parser, settings_from_args

COMMANDS = ["serve", "vectorize", "import", "search", "make-model", "bench", "drop", "demo", "config", "init"]


def subcommand_help(name: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[name].format_help()


def test_help_is_prose_with_first_steps():
    """Twin of the test of the same name in tests/e2e/test_newcomer_cli.py (already in-process there)."""
    text = cli.build_parser().format_help()
    assert "``" not in text and "(also" not in text
    assert "Search your own images by meaning" in text
    assert "clipvec demo" in text and "clipvec import ~/Pictures" in text


def test_help_lists_every_command_with_a_line_of_its_own():
    text = build_parser().format_help()
    for name in COMMANDS:
        assert f"    {name} " in text or f"    {name}\n" in text, name
    assert "CLIPVEC_" in text and "clipvec config" in text


@pytest.mark.parametrize("name", [c for c in COMMANDS if c != "bench"])
def test_no_command_help_shows_docstring_markup(name):
    text = subcommand_help(name)
    assert "``" not in text and ":mod:" not in text
    assert text.startswith(f"usage: clipvec {name}")


def test_a_command_is_required():
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([])
    assert exited.value.code == 2


def test_defaults():
    parser = build_parser()
    serve = parser.parse_args(["serve"])
    assert (serve.host, serve.port, serve.verbose) == ("127.0.0.1", 3000, False)
    imp = parser.parse_args(["import"])
    assert (imp.folder, imp.prune, imp.errors_file, imp.no_progress, imp.wait, imp.ray) == (
        None,
        False,
        None,
        False,
        0,
        None,
    )
    search = parser.parse_args(["search"])
    assert (search.query, search.image, search.top_k, search.min_score, search.path_prefix, search.json) == (
        None,
        None,
        None,  # CLIPVEC_TOP_K decides
        None,
        None,
        False,
    )
    demo = parser.parse_args(["demo"])
    assert (demo.dir, demo.port, demo.host, demo.per_class, demo.no_serve) == (
        Path("demo"),
        3000,
        "127.0.0.1",
        2,
        False,
    )
    make = parser.parse_args(["make-model", "out"])
    assert (make.out, make.size, make.seed, make.family) == (Path("out"), "base", 0, "clip")
    make = parser.parse_args(["make-model", "out", "--family", "siglip2", "--size", "full"])
    assert (make.family, make.size) == ("siglip2", "full")
    assert parser.parse_args(["drop"]).yes is False


def test_ray_address_is_optional():
    parser = build_parser()
    assert parser.parse_args(["import", "pics", "--ray"]).ray == "auto"
    assert parser.parse_args(["import", "--ray", "ray://head:10001", "pics"]).ray == "ray://head:10001"


def test_negative_numbers_are_values_not_flags():
    """``--top-k -1`` must reach the range check (one clear line), not argparse's "expected one argument"."""
    args = build_parser().parse_args(["search", "a dog", "--top-k", "-1", "--min-score", "-0.5"])
    assert (args.top_k, args.min_score) == (-1, -0.5)


@pytest.mark.parametrize(
    "argv",
    [
        ["import", "--precision", "fp64"],
        ["search", "--metric", "DOT"],
        ["make-model", "out", "--size", "huge"],
        ["make-model", "out", "--family", "blip"],
        ["vectorize", "--text", "a", "--image", "b"],
        ["drop", "--model", "m"],  # drop needs no model
        ["config", "--prune"],  # config takes the settings' flags only
        ["init", "--top-k", "3"],  # init writes the settings that have flags (others: edit the file)
    ],
)
def test_invalid_flags_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: clipvec") and ": error: " in err


def test_flags_override_the_environment_and_unset_flags_keep_it(monkeypatch):
    monkeypatch.setenv("CLIPVEC_COLLECTION", "from_env")
    monkeypatch.setenv("CLIPVEC_BATCH_SIZE", "8")
    monkeypatch.setenv("CLIPVEC_METRIC", "IP")
    args = build_parser().parse_args(
        [
            "import",
            "--collection",
            "from_flag",
            "--threads",
            "0",
            "--max-pixels",
            "1000",
            "--decode-workers",
            "3",
        ]
    )
    settings = settings_from_args(args)
    assert settings.collection == "from_flag"
    assert settings.threads == 0  # a flag given as 0 still counts
    assert (settings.max_pixels, settings.decode_workers) == (1000, 3)
    assert (settings.batch_size, settings.metric) == (8, "IP")


def test_every_settings_flag_reaches_its_setting():
    argv = ["serve", "--model", "m", "--device", "cpu", "--precision", "bf16", "--threads", "2"]
    argv += ["--batch-size", "4", "--max-pixels", "99", "--milvus-uri", "x.db", "--milvus-token", "t"]
    argv += ["--collection", "c", "--metric", "L2", "--index-type", "FLAT"]
    settings = settings_from_args(build_parser().parse_args(argv))
    assert (settings.model, settings.device, settings.precision, settings.threads) == ("m", "cpu", "bf16", 2)
    assert (settings.batch_size, settings.max_pixels, settings.milvus_uri) == (4, 99, "x.db")
    assert (settings.milvus_token, settings.collection, settings.metric, settings.index_type) == (
        "t",
        "c",
        "L2",
        "FLAT",
    )


def test_a_flag_out_of_range_is_a_settings_error():
    import pydantic

    with pytest.raises(pydantic.ValidationError):
        settings_from_args(build_parser().parse_args(["import", "--batch-size", "0"]))
