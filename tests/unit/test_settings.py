"""Settings: CLIPVEC_* variables, ./clipvec.toml, derived thread counts, thumbnail folders, absolute paths for workers."""

from __future__ import annotations

import os
import re

import pytest
from pydantic import ValidationError

from clipvec.errors import ClipvecError
from clipvec.settings import Settings, absolute_path_env, get_settings, setting_origins, settings_env


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No CLIPVEC_* variable of the caller's shell leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("CLIPVEC_"):
            monkeypatch.delenv(name)


def test_every_setting_is_a_clipvec_variable(monkeypatch):
    monkeypatch.setenv("CLIPVEC_TOP_K", "7")
    monkeypatch.setenv("CLIPVEC_MILVUS_URI", "http://milvus:19530")
    monkeypatch.setenv("CLIPVEC_VERIFY_WRITES", "false")
    monkeypatch.setenv("TOP_K", "99")  # without the prefix: not ours
    monkeypatch.setenv("CLIPVEC_NO_SUCH_SETTING", "x")  # unknown: ignored
    s = Settings()
    assert (s.top_k, s.milvus_uri, s.verify_writes) == (7, "http://milvus:19530", False)
    assert Settings(top_k=3).top_k == 3  # a flag overrides the variable


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CLIPVEC_BATCH_SIZE", "0"),
        ("CLIPVEC_BATCH_SIZE", "1025"),
        ("CLIPVEC_METRIC", "HAMMING"),
        ("CLIPVEC_PRECISION", "int8"),
        ("CLIPVEC_RAY_DECODE_CPUS", "1"),
        ("CLIPVEC_WORKERS", "65"),
        ("CLIPVEC_STORE_TIMEOUT", "0"),
    ],
)
def test_out_of_range_values_are_refused(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_get_settings_reads_the_environment_once(monkeypatch):
    get_settings.cache_clear()
    try:
        monkeypatch.setenv("CLIPVEC_COLLECTION", "first")
        assert get_settings().collection == "first"
        monkeypatch.setenv("CLIPVEC_COLLECTION", "second")
        assert get_settings() is get_settings() and get_settings().collection == "first"
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("threads", "workers", "cores", "expected"),
    [(3, 1, 8, 3), (3, 4, 8, 3), (0, 1, 8, 8), (0, 3, 8, 2), (0, 16, 8, 1), (0, 1, 1, 1)],
)
def test_torch_threads_share_the_usable_cores_among_workers(monkeypatch, threads, workers, cores, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    assert Settings(threads=threads, workers=workers).resolved_threads() == expected


def test_threads_without_affinity_come_from_the_cpu_count(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # not Linux
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert Settings().resolved_threads() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert Settings().resolved_threads() == 1


@pytest.mark.parametrize(
    ("decode_workers", "threads", "expected"), [(5, 1, 5), (0, 1, 2), (0, 6, 6), (1, 8, 1)]
)
def test_decoder_threads(decode_workers, threads, expected):
    assert Settings(decode_workers=decode_workers, threads=threads).resolved_decode_workers() == expected


def test_thumbnails_go_to_the_configured_folder_only(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Settings(thumb_dir="~/thumbs").thumb_dir_candidates() == [tmp_path / "home" / "thumbs"]


def test_thumbnails_of_a_folder_go_beside_it_then_to_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert Settings(images_dir=str(tmp_path / "photos")).thumb_dir_candidates() == [
        tmp_path / "photos" / ".thumbs",
        tmp_path / "cache" / "clipvec" / "thumbs",
    ]
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Settings(images_dir="~/pics").thumb_dir_candidates() == [
        tmp_path / "home" / "pics" / ".thumbs",
        tmp_path / "home" / ".cache" / "clipvec" / "thumbs",
    ]


def test_thumbnails_of_s3_images_go_to_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert Settings(images_dir="s3://bucket/photos").thumb_dir_candidates() == [
        tmp_path / "cache" / "clipvec" / "thumbs"
    ]


def test_relative_paths_become_absolute_for_the_workers(tmp_path):
    base = tmp_path / "start"
    (base / "models" / "my-clip").mkdir(parents=True)
    s = Settings(
        milvus_uri="./data/milvus.db", images_dir="photos", thumb_dir="cache/t", model="models/my-clip"
    )
    assert absolute_path_env(s, base) == {
        "CLIPVEC_MILVUS_URI": str(base.resolve() / "data" / "milvus.db"),
        "CLIPVEC_IMAGES_DIR": str(base.resolve() / "photos"),
        "CLIPVEC_THUMB_DIR": str(base.resolve() / "cache" / "t"),
        "CLIPVEC_MODEL": str(base.resolve() / "models" / "my-clip"),
    }


def test_what_is_absolute_or_not_a_path_is_left_alone(tmp_path):
    s = Settings(
        milvus_uri="http://milvus:19530",
        images_dir="s3://bucket/photos",
        thumb_dir="",
        model="openai/clip-vit-base-patch32",  # a hub id: no such folder below the base
    )
    assert absolute_path_env(s, tmp_path) == {}
    s = Settings(milvus_uri=str(tmp_path / "m.db"), images_dir="~/photos", model=str(tmp_path))
    assert absolute_path_env(s, tmp_path / "elsewhere") == {}


def test_a_default_top_k_no_search_could_answer_is_refused_at_start(monkeypatch):
    """CLIPVEC_TOP_K=2000 used to start, then answer 400 to every search without top_k."""
    from pydantic import ValidationError

    monkeypatch.setenv("CLIPVEC_TOP_K", "2000")
    with pytest.raises(ValidationError, match="top_k"):
        Settings()


@pytest.mark.parametrize(
    ("workers", "uri", "refused"),
    [
        (2, "./milvus.db", True),
        (8, "/data/photos.db", True),
        (1, "./milvus.db", False),  # Lite is one process: one worker is fine
        (2, "http://milvus:19530", False),  # a server serves every worker
        (2, "https://milvus.example:443", False),
    ],
)
def test_several_workers_need_a_milvus_server(workers, uri, refused):
    conflict = Settings(workers=workers, milvus_uri=uri).serving_conflict()
    assert (conflict is not None) is refused
    if refused:
        assert f"CLIPVEC_WORKERS={workers}" in conflict and uri in conflict and "Milvus server" in conflict


# --------------------------------------------------------------------------- clipvec.toml (issue 22)
def test_clipvec_toml_in_the_current_folder_is_read_below_env_and_flags(monkeypatch, tmp_path):
    """Precedence: flag > CLIPVEC_* > ./clipvec.toml > default."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clipvec.toml").write_text(
        'model = "./random-clip"\ncollection = "from_file"\ntop_k = 5\nverify_writes = false\n'
    )
    monkeypatch.setenv("CLIPVEC_COLLECTION", "from_env")
    s = Settings(top_k=7)
    assert s.model == "./random-clip"  # the file beats the default
    assert s.verify_writes is False
    assert s.collection == "from_env"  # the environment beats the file
    assert s.top_k == 7  # a flag beats the file
    assert setting_origins({"top_k": 7}) == {
        **{field: "default" for field in Settings.model_fields},
        "model": "clipvec.toml",
        "verify_writes": "clipvec.toml",
        "collection": "env",
        "top_k": "flag",
    }
    monkeypatch.chdir(tmp_path.parent)  # another folder: its own (no) file
    assert Settings().model == "openai/clip-vit-base-patch32"


def test_get_settings_reads_clipvec_toml(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clipvec.toml").write_text('model = "/models/clip"\n')
    get_settings.cache_clear()
    try:
        assert get_settings().model == "/models/clip"
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('modle = "x"\n', "unknown setting 'modle'"),
        ('CLIPVEC_MODEL = "x"\n', "unknown setting 'CLIPVEC_MODEL'"),
        ("model = \n", "is not valid TOML"),
    ],
)
def test_a_typo_in_clipvec_toml_is_an_error_not_ignored(monkeypatch, tmp_path, text, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clipvec.toml").write_text(text)
    with pytest.raises(ClipvecError, match=re.escape(says)):
        Settings()


def test_a_bad_value_in_clipvec_toml_is_refused(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clipvec.toml").write_text("batch_size = 0\n")
    with pytest.raises(ValidationError):
        Settings()


def test_settings_env_carries_every_setting_to_a_child(monkeypatch, tmp_path):
    """BentoML workers run in another folder: the file's values travel as CLIPVEC_*."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clipvec.toml").write_text('collection = "pics"\nverify_writes = false\n')
    env = settings_env(Settings())
    assert set(env) == {f"CLIPVEC_{field.upper()}" for field in Settings.model_fields}
    monkeypatch.chdir(tmp_path.parent)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert (Settings().collection, Settings().verify_writes) == ("pics", False)
