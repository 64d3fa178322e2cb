"""The benchmark's facts about the run: machine, load, memory, percentiles, its log lines."""

from __future__ import annotations

import os
import platform

import pytest

from clipvec.cli.bench import machine


def test_machine_info_keys_and_types():
    info = machine.machine_info()
    assert set(info) == {"cpu", "cores", "ram_gb", "python"}
    assert isinstance(info["cpu"], str) and info["cpu"]
    assert info["cores"] == len(os.sched_getaffinity(0))  # the cores this process may use
    assert info["ram_gb"] is None or 0 < info["ram_gb"] < 100_000
    assert info["python"] == platform.python_version()


def test_machine_info_without_proc(monkeypatch):
    real_open = open

    def no_proc(path, *args, **kwargs):
        if str(path).startswith("/proc/"):
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", no_proc)
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    info = machine.machine_info()
    assert info["ram_gb"] is None and info["cores"] == 3
    assert info["cpu"] == (platform.processor() or platform.machine())


def test_rss_is_megabytes_of_this_process():
    assert 10 < machine.rss_mb() < 100_000


def test_load_average(monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (1.23456, 0.0, 0.0))
    assert machine.load_average() == 1.23

    def unavailable():
        raise OSError("no load average here")

    monkeypatch.setattr(os, "getloadavg", unavailable)
    assert machine.load_average() is None


def test_percentile():
    values = [float(v) for v in range(1, 101)]
    assert machine.percentile(values, 50) == pytest.approx(50.5)
    assert machine.percentile(values, 99) == pytest.approx(99.01)
    assert isinstance(machine.percentile([3], 90), float)


def test_log_goes_to_stderr_unless_quiet(capsys):
    machine.log("shown", quiet=False)
    machine.log("hidden", quiet=True)
    assert capsys.readouterr() == ("", "shown\n")
