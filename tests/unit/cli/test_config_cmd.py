"""``clipvec config``: the settings as they take effect (auto resolved, paths absolute, secrets hidden)."""

from __future__ import annotations

import json
from pathlib import Path

from clipvec import cli
from clipvec.cli.config_cmd import effective_config
from clipvec.settings import Settings

HIDDEN = "*** (set, hidden)"


def test_config_shows_effective_values_and_hides_secrets(monkeypatch, capsys):
    """Twin of the test of the same name in tests/e2e/test_newcomer_cli.py (already in-process there)."""
    for name in ("CLIPVEC_DEVICE", "CLIPVEC_PRECISION", "CLIPVEC_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLIPVEC_MILVUS_TOKEN", "root:hunter2")
    monkeypatch.setenv("CLIPVEC_API_KEY", "sekret-api-key")
    assert cli.main(["config", "--json"]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert shown["device"] in ("cpu", "cuda") or shown["device"].startswith("cuda:")
    assert shown["precision"] in ("fp32", "bf16", "fp16")
    assert shown["threads"] >= 1 and shown["decode_workers"] >= 1
    assert "hunter2" not in out and "sekret-api-key" not in out
    assert shown["milvus_token"] == "*** (set, hidden)"
    assert Path(shown["milvus_uri"]).is_absolute() and Path(shown["images_dir"]).is_absolute()


def test_every_setting_is_shown_once_as_indented_json(run_cli, no_model_load):
    result = run_cli("config", "--json")
    assert result.code == 0 and result.err == ""
    shown = json.loads(result.out)
    assert set(shown) == set(Settings.model_fields)
    assert result.out.startswith('{\n  "model": ')  # indent=2, in the settings' order
    assert shown["milvus_token"] == "" and shown["api_key"] == ""  # unset: nothing to hide


def test_relative_paths_are_made_absolute_against_the_current_folder(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "clip").mkdir(parents=True)
    monkeypatch.setenv("CLIPVEC_MODEL", "models/clip")
    monkeypatch.setenv("CLIPVEC_MILVUS_URI", "data/x.db")
    monkeypatch.setenv("CLIPVEC_IMAGES_DIR", "pics")
    shown = json.loads(run_cli("config", "--json").out)
    assert shown["model"] == str(tmp_path / "models" / "clip")
    assert shown["milvus_uri"] == str(tmp_path / "data" / "x.db")
    assert shown["images_dir"] == str(tmp_path / "pics")
    assert shown["thumb_dir"] == str(tmp_path / "pics" / ".thumbs")  # "" resolved to where it goes
    assert list(tmp_path.iterdir()) == [tmp_path / "models"]  # shown, not created


def test_servers_hub_ids_and_s3_are_left_as_they_are(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    settings = Settings(
        model="openai/clip-vit-base-patch32",
        milvus_uri="http://127.0.0.1:19530",
        images_dir="s3://bucket/photos",
        thumb_dir="",
    )
    shown = effective_config(settings)
    assert shown["model"] == "openai/clip-vit-base-patch32"
    assert shown["milvus_uri"] == "http://127.0.0.1:19530"
    assert shown["images_dir"] == "s3://bucket/photos"
    assert shown["thumb_dir"] == str(tmp_path / "cache" / "clipvec" / "thumbs")


def test_auto_values_are_resolved_and_explicit_ones_kept():
    shown = effective_config(Settings(device="cpu", precision="fp32", threads=3))
    assert (shown["device"], shown["precision"], shown["threads"], shown["decode_workers"]) == (
        "cpu",
        "fp32",
        3,
        3,
    )
    shown = effective_config(Settings(device="cpu", threads=1, decode_workers=5))
    assert shown["precision"] in ("fp32", "bf16") and shown["decode_workers"] == 5
    assert effective_config(Settings(threads=1))["decode_workers"] == 2  # at least two decoders


def test_every_secret_field_is_hidden_when_set():
    shown = effective_config(Settings(milvus_token="u:p", api_key="k"))
    assert shown["milvus_token"] == HIDDEN and shown["api_key"] == HIDDEN
    assert "u:p" not in json.dumps(shown) and '"k"' not in json.dumps(shown)


def test_config_says_where_each_value_came_from(run_cli, tmp_path, monkeypatch):
    """flag > env > clipvec.toml > default, one comment per line; the lines are valid TOML."""
    import tomllib

    monkeypatch.chdir(tmp_path)
    (tmp_path / "clipvec.toml").write_text('model = "/models/clip"\ncollection = "file"\ntop_k = 3\n')
    monkeypatch.setenv("CLIPVEC_COLLECTION", "env")
    result = run_cli("config", "--metric", "L2")
    assert result.code == 0, result.err
    origin = {
        line.split(" =")[0]: line.rsplit("# ", 1)[1]
        for line in result.out.splitlines()
        if not line.startswith("#")
    }
    assert set(origin) == set(Settings.model_fields)
    assert origin["metric"] == "flag"
    assert origin["collection"] == "env"
    assert origin["model"] == origin["top_k"] == "clipvec.toml"
    assert origin["milvus_uri"] == "default" and origin["device"] == "default, auto"
    assert f"{tmp_path / 'clipvec.toml'}: read" in result.out.splitlines()[0]
    shown = tomllib.loads(result.out)
    assert (shown["model"], shown["collection"], shown["metric"], shown["top_k"]) == (
        "/models/clip",
        "env",
        "L2",
        3,
    )
