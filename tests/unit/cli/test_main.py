"""``clipvec.cli.main``: dispatch, exit codes (0 / 1 / 2 / 130), ``clipvec: ...`` lines, make-model."""

from __future__ import annotations

import json
import logging
import os
import runpy
import stat
import sys

import pytest

from clipvec import cli
from clipvec.cli import config_cmd, main
from clipvec.errors import ClipvecError
from clipvec.model.facts import facts_at_hand
from clipvec.model.family import supported


def test_a_clipvec_error_is_one_line_and_exit_2(run_cli, monkeypatch):
    def fail(settings, *args, **kwargs):
        raise ClipvecError("the store is on fire")

    monkeypatch.setattr(config_cmd, "run_config", fail)
    result = run_cli("config")
    assert (result.code, result.out, result.err) == (2, "", "clipvec: the store is on fire\n")


def test_ctrl_c_is_exit_130(run_cli, monkeypatch):
    def interrupted(settings, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(config_cmd, "run_config", interrupted)
    result = run_cli("config")
    assert (result.code, result.out, result.err) == (130, "", "clipvec: interrupted\n")


def test_other_errors_are_not_swallowed(run_cli, monkeypatch):
    def broken(settings, *args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(config_cmd, "run_config", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        run_cli("config")


@pytest.mark.parametrize(
    "argv", [[], ["frobnicate"], ["search", "--top-k", "many"], ["import", "--metric", "X"]]
)
def test_usage_errors_exit_2_from_argparse(argv, run_cli, capsys):
    with pytest.raises(SystemExit) as exited:
        run_cli(*argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith("usage: clipvec")


def test_help_exits_0_with_the_prose(run_cli, capsys):
    with pytest.raises(SystemExit) as exited:
        run_cli("--help")
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: clipvec") and "Search your own images by meaning" in out
    assert "first steps:" in out


def test_argv_defaults_to_sys_argv(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["clipvec", "config", "--json"])
    assert main() == 0
    assert "milvus_uri" in json.loads(capsys.readouterr().out)


def test_python_dash_m_clipvec_runs_the_cli(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["clipvec", "config", "--json"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("clipvec", run_name="__main__")
    assert exited.value.code == 0
    assert "milvus_uri" in json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("argv", "passed"),
    [
        (["bench"], []),
        (["bench", "--images", "3", "--json-only"], ["--images", "3", "--json-only"]),
        (["bench", "--", "--help"], ["--help"]),  # the benchmark's help, not clipvec's
        (["bench", "-v"], ["-v"]),  # not clipvec's -v either
    ],
)
def test_bench_gets_every_argument_after_it(argv, passed, monkeypatch):
    import clipvec.cli.bench

    seen: list[list[str]] = []
    monkeypatch.setattr(clipvec.cli.bench, "main", lambda args: seen.append(list(args)) or 0)
    assert main(argv) == 0
    assert seen == [passed]


def test_verbose_turns_on_clipvec_debug_logs(run_cli):
    assert run_cli("config").code == 0
    assert logging.getLogger("clipvec").level != logging.DEBUG
    assert run_cli("-v", "config").code == 0
    assert logging.getLogger("clipvec").level == logging.DEBUG


def test_import_search_and_drop_quieten_pymilvus(run_cli, tmp_path):
    assert run_cli("drop", "--milvus-uri", tmp_path / "none.db").code == 2  # no such file
    assert logging.getLogger("pymilvus").level == logging.CRITICAL


def test_make_model_writes_a_tiny_random_clip_readable_by_the_group(run_cli, tmp_path):
    """In-process twin of tests/e2e/test_newcomer_cli.py::test_make_model_is_quiet_and_readable_by_the_group.

    Only the bars and prints are seen here (capsys); library warnings are the process test's.
    """
    old = os.umask(0o022)
    try:
        made = run_cli("make-model", "--size", "tiny", tmp_path / "clip")
    finally:
        os.umask(old)
    assert made.code == 0, made.err
    assert made.out == f"{tmp_path / 'clip'}\n"
    assert "torchvision" not in made.err and "Writing model shards" not in made.err
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "clip").iterdir()}
    assert modes["model.safetensors"] == 0o644, modes
    assert set(modes.values()) == {0o644}
    facts = facts_at_hand(str(tmp_path / "clip"))
    assert facts is not None and facts.dim == 512


@pytest.mark.parametrize(
    ("family", "model_class", "dim"),
    [
        ("siglip", "SiglipModel", 32),
        ("siglip2", "SiglipModel", 32),
        ("metaclip_2", "MetaClip2Model", 512),
        ("chinese_clip", "ChineseCLIPModel", 512),
        ("altclip", "AltCLIPModel", 768),
    ],
)
def test_make_model_writes_a_random_checkpoint_of_any_family(run_cli, tmp_path, family, model_class, dim):
    """Issue 18: ``make-model --family F --size tiny`` loads through transformers' Auto classes and clipvec."""
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    from clipvec.model.encoder import ClipEncoder

    out = tmp_path / family
    made = run_cli("make-model", "--family", family, "--size", "tiny", out)
    assert made.code == 0, made.err
    assert made.out == f"{out}\n"
    assert type(AutoModel.from_pretrained(out)).__name__ == model_class
    assert AutoTokenizer.from_pretrained(out)("猫 a dog 🐱")["input_ids"]
    assert AutoImageProcessor.from_pretrained(out) is not None
    facts = facts_at_hand(str(out))
    assert (
        facts is not None
        and facts.dim == dim
        and facts.family == ("siglip" if family == "siglip2" else family)
    )
    encoder = ClipEncoder.load(str(out), device="cpu", precision="fp32", threads=1)
    assert encoder.encode_text("猫 a dog 🐱")[0].shape == (dim,)


def test_the_package_exports_main_and_the_parser():
    assert cli.main is main and cli.build_parser().prog == "clipvec"


def test_a_setting_out_of_range_is_one_line_and_exit_2(run_cli, monkeypatch):
    monkeypatch.setenv("CLIPVEC_TOP_K", "0")
    result = run_cli("config")
    assert result.code == 2
    assert result.err.strip().startswith("clipvec: invalid setting: CLIPVEC_TOP_K (--top-k):")
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1


def test_bench_refuses_another_model_family_in_one_line(run_cli, tmp_path):
    """Issue 18.1: ``clipvec bench --model`` with another family's checkpoint: one line, exit 2."""
    import shutil

    from clipvec.model.shapes import SHAPES_MODEL

    model = tmp_path / "blip"
    shutil.copytree(SHAPES_MODEL, model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "model_type": "blip"}))
    result = run_cli("bench", "--model", model, "--cache", tmp_path / "cache")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"clipvec: the model {model} has model_type 'blip' in its config.json; "
        f"clipvec supports only these model families today: {supported()}\n"
    )
    assert not (tmp_path / "cache").exists()
