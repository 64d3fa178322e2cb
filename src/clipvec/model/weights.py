"""A loaded model's weights that change dtype read again from model.safetensors, one tensor at a time.

``from_pretrained`` maps the safetensors file and hands out tensors over the mapping without
reading them (a ViT-B/32 is loaded in 0.2 s, at +25 MB). Converting those tensors to bf16
(``module.to``) reads every page of the fp32 file, and the mapped pages count in the
process's RSS until the last tensor over them goes: the model worker peaked at 1.38 GB to
settle at 0.92 GB (issue 20.2). Here each tensor is read with a plain file read (the page
cache, not our RSS), one at a time, converted, and swapped in; the mapped pages are never
touched. The values are those the conversion gives (the same rounding of the same numbers).

Anything this reader does not know (no single model.safetensors, a name or a shape the model
does not have, a dtype it cannot read, values that differ from what ``from_pretrained`` put
there) makes it answer False having changed nothing, and the caller converts the loaded
tensors as before.
"""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Callable
from pathlib import Path

import torch

log = logging.getLogger(__name__)

_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_HEADER_LIMIT = 100_000_000


def _header(path: Path) -> tuple[int, dict[str, dict]]:
    """(offset of the data, {name: {dtype, shape, data_offsets}}) of a safetensors file."""
    with path.open("rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        if length > _HEADER_LIMIT:
            raise ValueError("safetensors header too long")
        header = json.loads(f.read(length))
    header.pop("__metadata__", None)
    return 8 + length, header


def _read_into(f, start: int, entry: dict, into: torch.Tensor) -> torch.Tensor:
    """One tensor of the file as it is stored, read into the front of the byte buffer ``into``."""
    begin, end = entry["data_offsets"]
    raw = into[: end - begin]
    f.seek(start + begin)
    if f.readinto(memoryview(raw.numpy())) != end - begin:
        raise ValueError("safetensors file cut short")
    return raw.view(_DTYPES[entry["dtype"]]).reshape(entry["shape"])


def _same_start(loaded: torch.Tensor, read: torch.Tensor) -> bool:
    """Whether the first values agree (a page of the mapping at most): the same tensor, not a renamed one."""
    a = loaded.detach().reshape(-1)[:64]
    b = read.reshape(-1)[:64].to(a.dtype)
    return bool(torch.equal(a, b))


def reload_in_serving_dtype(
    model: torch.nn.Module, folder: Path, dtype_of: Callable[[torch.nn.Module, torch.Tensor], torch.dtype]
) -> bool:
    """Replace each parameter and buffer of ``model`` that changes dtype by a read of ``folder``'s model.safetensors.

    ``dtype_of(module, tensor)`` says which dtype a tensor of ``module`` is kept in. The others
    stay as loaded: over the mapping, only their pages in use become resident (of ViT-B/32's
    100 MB token embedding, the rows of the tokens seen). True when done; False (``model``
    unchanged) when this file cannot be read this way.
    """
    path = folder / "model.safetensors"
    if not path.is_file():
        return False
    try:
        start, header = _header(path)
    except (OSError, ValueError, struct.error) as exc:
        log.debug("weights not re-read (%s): %s", path, exc)
        return False
    targets: list[tuple[torch.nn.Module, str, torch.Tensor, dict, bool]] = []
    for module_name, module in model.named_modules(remove_duplicate=False):
        for kind, tensors in (("param", module._parameters), ("buffer", module._buffers)):
            for name, tensor in tensors.items():
                if tensor is None or tensor.dtype == dtype_of(module, tensor):
                    continue  # kept as loaded: over the mapping, only the pages used become resident
                key = f"{module_name}.{name}" if module_name else name
                entry = header.get(key)
                if entry is None:
                    if kind == "buffer" and key not in model.state_dict():
                        continue  # a buffer computed at construction (position_ids), not stored
                    log.debug("weights not re-read: %s is not in %s", key, path)
                    return False
                if list(entry["shape"]) != list(tensor.shape) or entry["dtype"] not in _DTYPES:
                    log.debug("weights not re-read: %s differs in shape or dtype", key)
                    return False
                targets.append((module, name, tensor, entry, kind == "param"))
    fresh: dict[int, torch.Tensor] = {}  # id of the loaded tensor -> its replacement (tied ones share it)
    # One scratch buffer for the tensors that change dtype: a buffer per tensor, freed at once,
    # would stay in the allocator's heap (glibc raises its mmap threshold after such frees).
    scratch = torch.empty(
        max((e["data_offsets"][1] - e["data_offsets"][0] for *_, e, _ in targets), default=0),
        dtype=torch.uint8,
    )
    with torch.no_grad(), path.open("rb", buffering=0) as f:
        for module, name, tensor, entry, is_param in targets:
            if id(tensor) in fresh:
                continue
            read = _read_into(f, start, entry, scratch)
            value = torch.empty(read.shape, dtype=dtype_of(module, tensor))
            value.copy_(read)
            if not _same_start(tensor, read):
                log.debug("weights not re-read: %s holds other values than the loaded model", name)
                return False
            fresh[id(tensor)] = (
                torch.nn.Parameter(value, requires_grad=tensor.requires_grad) if is_param else value
            )
    for module, name, tensor, _, is_param in targets:
        (module._parameters if is_param else module._buffers)[name] = fresh[id(tensor)]
    return True


def store_matmul_weights_in_bf16(model: torch.nn.Module, folder: Path | None = None) -> None:
    """Do once what bf16 autocast does on every call: round Linear/Conv2d weights to bf16.

    Autocast casts exactly these fp32 weights to bf16 before each matmul, so the vectors are
    the same; the per-call casts of 151M weights disappear and the weights take half the
    memory. Norms, embeddings and the rest stay fp32, as autocast wants them. Read anew from
    ``folder``'s model.safetensors tensor by tensor when it can be (``reload_in_serving_dtype``:
    the fp32 file never becomes resident, issue 20.2), else converted from the loaded tensors.
    """
    if folder is not None and reload_in_serving_dtype(model, folder, bf16_if_matmul):
        return
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
                module.to(torch.bfloat16)
        # What stays fp32 still points into the memory-mapped weights file, which would keep
        # the whole fp32 file resident: copy it out so the mapping can go.
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.dtype != torch.bfloat16:
                tensor.data = tensor.data.clone()


def bf16_if_matmul(module: torch.nn.Module, tensor: torch.Tensor) -> torch.dtype:
    """What ``module.to(torch.bfloat16)`` on Linear/Conv2d gives a tensor: bf16 there, its dtype elsewhere."""
    if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)) and tensor.is_floating_point():
        return torch.bfloat16
    return tensor.dtype
