"""The guard's defaults are the settings' defaults, and its options reach its config."""

from __future__ import annotations

import inspect
import socket

from asgi_driver import echo_app

from clipvec.serving.guard import GuardConfig, RequestGuard
from clipvec.serving.guard.hosts import parse_hosts
from clipvec.settings import Settings

OPTION_TO_SETTING = {
    "max_body_bytes": "max_body_bytes",
    "max_batch_items": "max_batch_items",
    "api_key": "api_key",
    "allowed_origins": "allowed_origins",
    "idle_timeout": "body_idle_timeout",
    "min_rate": "body_min_rate",
    "max_concurrency": "max_concurrency",
    "allowed_hosts": "allowed_hosts",
}
PARSED = {"allowed_origins", "allowed_hosts"}  # held parsed in the config


def test_defaults_agree_with_the_settings():
    options = inspect.signature(RequestGuard).parameters
    config = GuardConfig()
    for option, setting in OPTION_TO_SETTING.items():
        default = Settings.model_fields[setting].default
        assert options[option].default == default, option
        if option not in PARSED:
            assert getattr(config, option) == default, option
    assert set(options) - {"app"} == set(OPTION_TO_SETTING)


def test_options_reach_the_config():
    guard = RequestGuard(
        echo_app,
        max_body_bytes=10,
        max_batch_items=2,
        api_key="k",
        allowed_origins="https://A.example:443, null",
        idle_timeout=1.5,
        min_rate=7,
        max_concurrency=3,
        allowed_hosts="Clip.Example, *.example.org",
    )
    hosts = parse_hosts("clip.example,*.example.org")
    assert guard.config == GuardConfig(10, 2, "k", frozenset({"https://a.example"}), 1.5, 7, 3, hosts)
    assert {"clip.example", socket.gethostname().lower()} <= hosts.names and hosts.suffixes == (
        ".example.org",
    )
