"""``clipvec watch`` and ``clipvec serve --watch``: flags to settings, and what it refuses to watch."""

from __future__ import annotations

from clipvec.cli.main import main
from clipvec.cli.parser import build_parser, flag_settings
from clipvec.model.shapes import SHAPES_MODEL


def test_watch_flags_become_settings():
    args = build_parser().parse_args(["watch", "pics", "--settle", "0.5", "--interval", "30"])
    assert flag_settings(args) == {"watch_settle": 0.5, "watch_interval": 30.0}
    assert args.folder == "pics" and args.wait == 0
    assert flag_settings(build_parser().parse_args(["serve", "--watch"]))["watch"] is True
    assert "watch" not in flag_settings(build_parser().parse_args(["serve"]))  # CLIPVEC_WATCH decides


def test_watch_refuses_a_missing_folder(tmp_path, capsys, monkeypatch):
    """(An S3 prefix is polled: tests/integration/sources/test_s3_import.py.)"""
    monkeypatch.chdir(tmp_path)
    store = ["--model", str(SHAPES_MODEL), "--milvus-uri", str(tmp_path / "m.db")]
    assert main(["watch", str(tmp_path / "nowhere"), *store]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "m.db").exists()  # nothing opened or created
