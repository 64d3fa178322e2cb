"""Where and in which precision the model runs: ``auto`` resolved to this machine's best choice.

Kept apart from the encoder so that ``clipvec config`` can show the effective values
without loading a model.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@lru_cache(maxsize=1)
def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True when the CPU computes bf16 natively (then autocast roughly doubles GEMM speed)."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_device(requested: str) -> torch.device:
    """``auto`` is the GPU when torch sees one, else the CPU; anything else is taken as given."""
    import torch  # here: a runtime other than torch reads ``cpu_has_native_bf16`` without it

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def resolve_precision(requested: str, device: torch.device) -> str:
    """The precision actually used: 'auto' picks the fastest one that keeps fidelity."""
    if requested != "auto":
        return requested
    if device.type == "cuda":
        return "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"
