"""Other runtimes behind the one encoder: ONNX Runtime and OpenVINO (``CLIPVEC_RUNTIME``, issue 20.3).

``ClipEncoder`` stays the one facade every caller uses; for a runtime other than torch it holds
an ``ExportedTowers`` (``sessions.py``) instead of the torch towers. The checkpoint is exported
once per runtime and precision (``export.py``) into the export cache (``cache.py``, keyed to
its content), and a load that finds a sound export imports neither torch nor transformers'
model code: the runtime reads the graphs and the ``tokenizers`` library tokenizes
(``tokens.py``). Which precisions each runtime runs is ``settings.RUNTIME_PRECISIONS``.
"""

from __future__ import annotations

import logging
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from clipvec.errors import ModelLoadError
from clipvec.settings import runtime_precision_problem

log = logging.getLogger(__name__)

# The packages each runtime needs: to run an export, and to make one.
RUN_PACKAGES = {"onnxruntime": ("onnxruntime",), "openvino": ("openvino",)}
EXPORT_PACKAGES = {"onnxruntime": ("onnx", "onnxruntime"), "openvino": ("onnx", "openvino", "nncf")}
INSTALL_HINT = "pip install 'clipvec[runtimes]'"


def missing_packages(runtime: str, *, exporting: bool) -> list[str]:
    """The packages ``runtime`` needs here that are not installed."""
    wanted = (EXPORT_PACKAGES if exporting else RUN_PACKAGES).get(runtime, ())
    return [name for name in wanted if find_spec(name) is None]


def check_runtime(runtime: str, precision: str, device: str) -> str:
    """The precision ``runtime`` will run (auto: fp32); ``ModelLoadError`` in one line if it cannot run here."""
    if problem := runtime_precision_problem(runtime, precision):
        raise ModelLoadError(problem)
    if device not in ("auto", "cpu"):
        raise ModelLoadError(
            f"the {runtime} runtime runs on the CPU in clipvec; CLIPVEC_DEVICE={device} needs CLIPVEC_RUNTIME=torch"
        )
    if missing := missing_packages(runtime, exporting=False):
        raise ModelLoadError(
            f"CLIPVEC_RUNTIME={runtime} needs the package(s) {', '.join(missing)}: {INSTALL_HINT} "
            f"(or pip install {' '.join(missing)})"
        )
    resolved = "fp32" if precision == "auto" else precision
    if runtime == "openvino" and resolved == "bf16":
        from clipvec.model.device import cpu_has_native_bf16

        if not cpu_has_native_bf16():
            raise ModelLoadError(
                "openvino bf16 needs a CPU with native bf16 (AVX512-BF16 or AMX); this one would "
                "run it in fp32: use CLIPVEC_PRECISION=fp32 or int8"
            )
    return resolved


def build_export(
    checkpoint: Path, into: Path, runtime: str, precision: str
) -> tuple[dict[str, Any], list[str]]:
    """Export ``checkpoint`` for ``runtime`` at ``precision`` into ``into`` (the cache's exporter)."""
    if missing := missing_packages(runtime, exporting=True):
        raise ModelLoadError(
            f"exporting for CLIPVEC_RUNTIME={runtime} needs the package(s) {', '.join(missing)}: "
            f"{INSTALL_HINT} (or pip install {' '.join(missing)})"
        )
    from clipvec.model.runtimes.export import convert, export_onnx

    facts = export_onnx(checkpoint, into)
    return facts, convert(into, runtime, precision)


def load_towers(
    checkpoint: Path, content_id: str, runtime: str, precision: str, *, threads: int, cache_root: Path
) -> Any:
    """The runtime's towers of ``checkpoint`` from its cached export (made now if there is none).

    A cached export's sha256 are checked while the runtime reads its files (both take about a
    second for ViT-B/32): towers from files that turn out changed are dropped and the export
    is built again, so they never encode anything.
    """
    from clipvec.model.runtimes import cache

    folder, manifest = _export(checkpoint, content_id, runtime, precision, cache_root, hashes=False)
    towers, problem, error = cache.open_checked(
        folder, manifest, lambda: _open(folder, manifest, checkpoint, runtime, precision, threads)
    )
    if error is not None and not problem:  # a sound export's error is raised
        raise ModelLoadError(
            f"{runtime} cannot load the export {folder}: {type(error).__name__}: {error}"
        ) from error
    if problem or towers is None:
        cache.discard(folder, problem)
        folder, manifest = _export(checkpoint, content_id, runtime, precision, cache_root, hashes=True)
        towers = _open(folder, manifest, checkpoint, runtime, precision, threads)
    return towers


def _export(
    checkpoint: Path, content_id: str, runtime: str, precision: str, cache_root: Path, *, hashes: bool
) -> tuple[Path, dict[str, Any]]:
    from clipvec.model.runtimes import cache

    try:
        return cache.cached_export(
            cache_root, checkpoint, content_id, runtime, precision, build_export, hashes=hashes
        )
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - an exporter fails in many ways; said in one line
        raise ModelLoadError(
            f"cannot export {checkpoint} for CLIPVEC_RUNTIME={runtime} ({precision}): "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; "
            "CLIPVEC_RUNTIME=torch runs it as it is"
        ) from exc


def _open(
    folder: Path, manifest: dict[str, Any], checkpoint: Path, runtime: str, precision: str, threads: int
) -> Any:
    from clipvec.model.runtimes.sessions import OnnxRuntimeTowers, OpenVinoTowers
    from clipvec.model.runtimes.tokens import load_tokens

    tokens = load_tokens(folder, checkpoint, manifest["tokens"])
    if runtime == "onnxruntime":
        return OnnxRuntimeTowers(folder, manifest, tokens, threads)
    return OpenVinoTowers(folder, manifest, tokens, threads, precision)
