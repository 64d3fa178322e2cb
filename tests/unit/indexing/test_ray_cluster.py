"""Joining a Ray cluster (without Ray running): what workers inherit, clear errors, the real cause."""

from __future__ import annotations

import os
import socket
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import clipvec
from clipvec.indexing import ray_cluster
from clipvec.indexing.ray_cluster import RayUnavailable, connect, root_cause, worker_env


def test_workers_get_the_cloud_and_hub_variables_only(monkeypatch):
    for name in list(os.environ):
        monkeypatch.delenv(name)
    passed = {
        "AWS_ENDPOINT_URL": "http://s3:8333",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "HF_HOME": "/models",
        "TRANSFORMERS_OFFLINE": "1",
        "HUGGINGFACE_HUB_TOKEN": "hf_x",
    }
    kept = {"PATH": "/bin", "CLIPVEC_MODEL": "m", "MY_AWS_KEY": "x", "hf_home": "lower case"}
    for name, value in {**passed, **kept}.items():
        monkeypatch.setenv(name, value)
    assert worker_env() == passed


def test_without_ray_installed_the_error_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(RayUnavailable) as caught:
        connect(None)
    assert caught.value.detail == "--ray needs Ray: pip install -e '.[ray]' (or pip install 'ray[data]')"
    assert (caught.value.code, caught.value.status) == ("ray_unavailable", 503)


class FakeRay(types.ModuleType):
    """Records how ``ray.init`` was called; raises ``fail`` when set."""

    def __init__(self, fail: Exception | None = None) -> None:
        super().__init__("ray")
        self.fail = fail
        self.calls: list[dict] = []

    def init(self, **kwargs) -> None:
        self.calls.append(kwargs)
        if self.fail is not None:
            raise self.fail


@pytest.fixture
def listening() -> Iterator[str]:
    """A loopback ``host:port`` that accepts TCP connections (and nothing more)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def dead_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"  # closed again: nothing listens there


def test_a_cluster_that_cannot_be_joined_is_one_clear_error(monkeypatch, listening):
    monkeypatch.setitem(sys.modules, "ray", FakeRay(ConnectionError("no head node")))
    with pytest.raises(RayUnavailable, match=rf"^cannot connect to the Ray cluster at {listening}: no head"):
        connect(listening)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(RayUnavailable, match=r"^cannot connect to the Ray cluster at a local Ray: no head"):
        connect("auto")


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_address_where_nothing_listens_fails_before_ray_init(monkeypatch, scheme):
    """ray.init retries a dead address for minutes; the TCP check says so at once."""
    ray = FakeRay()
    monkeypatch.setitem(sys.modules, "ray", ray)
    address = scheme + dead_address()
    with pytest.raises(
        RayUnavailable, match=rf"^cannot connect to the Ray cluster at {address}: nothing answers"
    ):
        connect(address)
    assert ray.calls == []


def test_no_address_starts_a_new_local_ray_whatever_a_past_ray_start_left(monkeypatch, tmp_path):
    """Ray's default (address None) joins the cluster in $RAY_TMPDIR/ray/ray_current_cluster, dead or not."""
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text(dead_address())
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray = FakeRay()
    monkeypatch.setitem(sys.modules, "ray", ray)
    connect(None)
    connect("auto")
    assert [call["address"] for call in ray.calls] == ["local", "local"]


@pytest.mark.parametrize(
    ("address", "env", "expected"),
    [
        (None, None, "local"),
        ("auto", "ray://head:10001", "ray://head:10001"),
        ("", None, "local"),
        ("10.0.0.1:6379", "ray://other:1", "10.0.0.1:6379"),
    ],
)
def test_the_address_and_what_the_job_carries(monkeypatch, address, env, expected):
    ray = FakeRay()
    monkeypatch.setitem(sys.modules, "ray", ray)
    checked: list[str] = []
    monkeypatch.setattr(ray_cluster, "check_reachable", checked.append)  # no traffic to these addresses
    if env is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", env)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    connect(address)
    [call] = ray.calls
    assert call["address"] == expected
    assert checked == ([] if expected == "local" else [expected])
    assert call["include_dashboard"] is (False if expected == "local" else None)  # none for a local Ray
    assert (
        call["runtime_env"] == {"env_vars": worker_env()}
        and call["runtime_env"]["env_vars"]["HF_HUB_OFFLINE"] == "1"
    )


def test_shipping_the_code_sends_this_clipvec_package(monkeypatch, listening):
    ray = FakeRay()
    monkeypatch.setitem(sys.modules, "ray", ray)
    connect(listening, ship_code=True)
    assert ray.calls[0]["runtime_env"]["py_modules"] == [str(Path(clipvec.__file__).resolve().parent)]


class Wrapper(Exception):
    """Like Ray's RayTaskError: the user's error is in ``.cause``."""

    def __init__(self, cause: BaseException | None) -> None:
        super().__init__("wrapped")
        self.cause = cause


def test_root_cause_finds_the_users_error_inside_the_wrappers():
    inner = FileNotFoundError("s3://bucket/a.jpg")
    assert root_cause(Wrapper(Wrapper(inner))) is inner
    chained = RuntimeError("outer")
    chained.__cause__ = inner
    assert root_cause(Wrapper(chained)) is inner
    plain = ValueError("x")
    assert root_cause(plain) is plain and root_cause(Wrapper(None)).args == ("wrapped",)


def test_root_cause_stops_on_a_cycle():
    a, b = Wrapper(None), Wrapper(None)
    a.cause, b.cause = b, a
    assert root_cause(a) in (a, b)
    itself = Wrapper(None)
    itself.cause = itself
    assert root_cause(itself) is itself
