"""``clipvec init``: the settings a folder remembers, in ./clipvec.toml (issue 22)."""

from __future__ import annotations

import tomllib

from clipvec.settings import Settings


def test_init_writes_only_the_settings_given_and_every_command_then_reads_them(
    run_cli, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    result = run_cli("init", "--model", "./random-clip", "--batch-size", "8", "--images-dir", "pics")
    assert result.code == 0, result.err
    written = tomllib.loads((tmp_path / "clipvec.toml").read_text())
    assert written == {"model": "./random-clip", "batch_size": 8, "images_dir": "pics"}
    assert f"wrote {tmp_path / 'clipvec.toml'}" in result.out
    assert "./random-clip is not a folder" in result.err  # said, not refused: make-model may come next
    s = Settings()
    assert (s.model, s.batch_size, s.images_dir) == ("./random-clip", 8, "pics")


def test_init_refuses_to_overwrite_without_force(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli("init", "--collection", "pics", "--metric", "L2").code == 0
    before = (tmp_path / "clipvec.toml").read_text()
    refused = run_cli("init", "--collection", "other")
    assert refused.code == 1 and "already exists; nothing was changed" in refused.err
    assert "--force" in refused.err
    assert (tmp_path / "clipvec.toml").read_text() == before
    forced = run_cli("init", "--collection", "other", "--force")
    assert forced.code == 0, forced.err
    assert tomllib.loads((tmp_path / "clipvec.toml").read_text()) == {"collection": "other", "metric": "L2"}


def test_init_with_force_replaces_a_broken_file(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clipvec.toml").write_text("modle = 'typo'\n")
    assert run_cli("config").code == 2  # a typo is an error everywhere ...
    assert run_cli("init", "--model", "/m", "--force").code == 0  # ... that init --force mends
    assert tomllib.loads((tmp_path / "clipvec.toml").read_text()) == {"model": "/m"}


def test_init_refuses_a_bad_value_and_no_value(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = run_cli("init", "--batch-size", "0")
    assert bad.code == 2 and bad.err.startswith("clipvec: invalid setting --batch-size:")
    empty = run_cli("init")
    assert empty.code == 2 and "clipvec init --model ./random-clip" in empty.err
    assert not (tmp_path / "clipvec.toml").exists()


def test_strings_are_written_as_toml_reads_them(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    odd = 'C:\\models\\"clip" ü'
    assert run_cli("init", "--model", odd).code == 0
    assert Settings().model == odd
