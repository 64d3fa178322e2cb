"""``auto`` device and precision resolved to what this machine does best."""

from __future__ import annotations

import pytest
import torch

from clipvec.model import device as device_module
from clipvec.model.device import cpu_has_native_bf16, resolve_device, resolve_precision


@pytest.fixture
def cpuinfo(tmp_path):
    def write(flags: str) -> str:
        path = tmp_path / "cpuinfo"
        path.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
        return str(path)

    yield write
    cpu_has_native_bf16.cache_clear()


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("fpu sse avx2 avx512f", False),
        ("fpu avx512f avx512_bf16 avx512_vnni", True),
        ("fpu amx_bf16 amx_tile", True),
        ("fpu avx512_fp16", False),
    ],
)
def test_native_bf16_is_read_from_the_cpu_flags(cpuinfo, flags, native):
    assert cpu_has_native_bf16(cpuinfo(flags)) is native


def test_no_cpuinfo_means_no_native_bf16(tmp_path):
    assert cpu_has_native_bf16(str(tmp_path / "missing")) is False
    cpu_has_native_bf16.cache_clear()


def test_auto_device_is_the_gpu_when_torch_sees_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_fp16_on_gpu_and_bf16_only_on_cpus_that_have_it(monkeypatch, native):
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: native)
    assert resolve_precision("auto", torch.device("cuda")) == "fp16"
    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if native else "fp32")
    for asked in ("fp32", "bf16", "fp16"):
        assert resolve_precision(asked, torch.device("cpu")) == asked
