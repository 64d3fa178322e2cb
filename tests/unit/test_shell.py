"""Commands in messages are printed the way they run from where the user is (issue 22)."""

from __future__ import annotations

import sys
from pathlib import Path

from clipvec import shell


def fake_prefix(monkeypatch, prefix: Path, on_path: str | None, scripts=("clipvec",)) -> None:
    (prefix / "bin").mkdir(parents=True, exist_ok=True)
    for name in scripts:
        (prefix / "bin" / name).write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "prefix", str(prefix))
    monkeypatch.setattr(sys, "executable", str(prefix / "bin" / "python"))
    monkeypatch.setattr(shell.shutil, "which", lambda name: on_path)


def test_a_venv_that_is_not_activated_is_named_relative_to_here(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    fake_prefix(monkeypatch, tmp_path / ".venv", on_path=None)
    assert shell.shown_command() == ".venv/bin/clipvec"


def test_a_venv_elsewhere_is_named_by_its_absolute_path(monkeypatch, tmp_path):
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    fake_prefix(monkeypatch, tmp_path / "venv", on_path="/usr/bin/clipvec")  # another clipvec on PATH
    assert shell.shown_command() == str(tmp_path / "venv" / "bin" / "clipvec")


def test_an_activated_venv_is_plain_clipvec(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    fake_prefix(monkeypatch, tmp_path / ".venv", on_path=str(tmp_path / ".venv" / "bin" / "clipvec"))
    assert shell.shown_command() == "clipvec"


def test_without_the_script_it_is_python_dash_m(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    fake_prefix(monkeypatch, tmp_path / ".venv", on_path=None, scripts=())
    assert shell.shown_command() == ".venv/bin/python -m clipvec"
    assert shell.shown_command("pip") == ".venv/bin/python -m pip"
