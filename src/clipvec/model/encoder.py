"""Pixels / text -> L2-normalised vectors of a CLIP-like model (any family in ``model/family.py``).

One ``ClipEncoder`` per process owns the transformers model of the checkpoint's family. It runs
under ``torch.inference_mode``, in batches, with bf16 autocast on CPUs that have native bf16
(AVX512-BF16 / AMX), fp16 on GPU, fp32 otherwise, and pins torch's thread count so that
small CPUs are not oversubscribed. How each family's towers are called and its texts padded is
in ``model/towers.py`` (CLIP: no padding to 77 tokens); longer texts are cut to the family's
token limit and reported as truncated.

With ``CLIPVEC_RUNTIME`` onnxruntime or openvino the same facade runs the checkpoint's cached
export instead (``model/runtimes``): same preprocessing, same token ids, numpy in and out.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from clipvec.errors import ModelLoadError
from clipvec.images.preprocess import Preprocessor
from clipvec.locations import model_shown
from clipvec.model.advice import model_help
from clipvec.model.chatter import before_transformers
from clipvec.model.checkpoint import family_at_hand, folder_problems, local_folder, resolve_model
from clipvec.model.facts import ModelIdentity, facts_at_hand, recorded_model_name
from clipvec.model.family import DEFAULT_FAMILY, Family, family_named
from clipvec.model.identity import content_id
from clipvec.settings import Settings, runtime_precision_problem

if TYPE_CHECKING:  # torch is imported when the torch runtime loads: the others run without it
    import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextEncoding:
    vectors: np.ndarray  # (N, dim) float32, unit norm
    truncated: list[bool]
    token_counts: list[int]


class ClipEncoder:
    """A loaded CLIP-like model (its family's towers) with its preprocessing and tokenizer."""

    def __init__(
        self,
        model: torch.nn.Module | None,
        tokenizer,
        preprocessor: Preprocessor,
        *,
        name: str,
        device: torch.device | str,
        precision: str,
        batch_size: int = 32,
        content_id: str | None = None,
        family: Family = DEFAULT_FAMILY,
        runtime: str = "torch",
        towers: Any = None,
    ) -> None:
        """``towers``: another runtime's (``model/runtimes``), which then runs instead of ``model``."""
        self.model = model
        self.tokenizer = tokenizer
        self.preprocessor = preprocessor
        self.name = name  # what a collection records: a hub id, or the folder's absolute path
        self.shown_name = model_shown(name)  # what clients are told: never where the model lives
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.family = family
        self.runtime = runtime  # torch, or the runtime whose ``towers`` run the exported model
        if towers is None:
            from clipvec.model.towers import towers_for

            towers = towers_for(model, tokenizer, family)  # reads the tokenizer's own limit first
            # We cut to the context length ourselves (and report it); stop the tokenizer warning about it.
            tokenizer.model_max_length = 1 << 30
        self._towers = towers
        self.dim: int = self._towers.dim
        # What a collection checks: the same weights match from any folder (model/identity.py).
        self.identity = ModelIdentity(name, self.dim, content_id, family.name)
        self.context_length: int = self._towers.context_length
        # Model calls are serialised: torch (or the runtime) already uses every thread we gave it.
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls,
        model: str,
        *,
        device: str = "auto",
        precision: str = "auto",
        threads: int = 0,
        batch_size: int = 32,
        runtime: str = "torch",
        export_cache: Path | None = None,
        trace: bool = False,
    ) -> ClipEncoder:
        """Load a checkpoint of any supported family by hub id or local folder; errors say what to do offline.

        ``runtime`` other than torch: its export of the checkpoint, from ``export_cache``
        (made there once), run by that runtime (``model/runtimes``). ``trace`` (torch on a
        CPU): from the checkpoint's trace in ``export_cache`` when there is a sound one, else
        through transformers and then traced there for the next start (``runtimes/traced.py``).
        """
        if problem := runtime_precision_problem(runtime, precision):  # never run in another precision
            raise ModelLoadError(problem)
        # Another family's checkpoint is refused here, in one line, before a weight is read.
        family = family_at_hand(model) or DEFAULT_FAMILY  # None: not here yet (resolve_model checks)
        if runtime != "torch":
            return cls._load_exported(
                model,
                runtime,
                device,
                precision,
                threads,
                batch_size,
                export_cache or Settings().export_cache_dir(),
            )
        if not trace:
            return cls._load_torch(model, family, device, precision, threads, batch_size)
        cache = export_cache or Settings().export_cache_dir()
        if traced := cls._load_traced(model, device, precision, threads, batch_size, cache):
            return traced
        encoder = cls._load_torch(model, family, device, precision, threads, batch_size)
        if encoder.device.type == "cpu" and (facts := facts_at_hand(model)):
            from clipvec.model.runtimes.traced import keep_trace

            keep_trace(encoder, cache, facts.folder)
        return encoder

    @classmethod
    def _load_torch(
        cls, model: str, family: Family, device: str, precision: str, threads: int, batch_size: int
    ) -> ClipEncoder:
        """``model`` through transformers' classes: its family's model and tokenizer."""
        before_transformers()
        import torch
        import transformers
        from transformers import AutoTokenizer

        from clipvec.model.device import resolve_device, resolve_precision

        if threads > 0:
            torch.set_num_threads(threads)
        dev = resolve_device(device)
        prec = resolve_precision(precision, dev)
        dtype = torch.float16 if (dev.type == "cuda" and prec == "fp16") else torch.float32
        started = time.perf_counter()
        # Loaded from its folder: a hub id cached here is never asked of the hub again (offline,
        # transformers retries for ~30 s), and one not cached is downloaded by resolve_model,
        # which fails in a second with the ways out when the hub cannot be reached.
        folder = local_folder(model)
        if folder is None or (not Path(model).expanduser().is_dir() and folder_problems(folder)):
            folder = resolve_model(model)
            family = family_at_hand(str(folder)) or family
        try:
            clip = getattr(transformers, family.model_class).from_pretrained(str(folder), dtype=dtype)
            tokenizer = AutoTokenizer.from_pretrained(str(folder))
        except Exception as exc:  # noqa: BLE001 - broken checkpoints raise anything (IndexError, RuntimeError ...)
            first_line = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            if not isinstance(exc, (OSError, ValueError)):
                first_line = f"{type(exc).__name__}: {first_line}"
            if not Path(model).exists():
                first_line = "it is not a local folder and the Hugging Face hub gave no copy: " + first_line
            raise ModelLoadError(model_help(model, first_line)) from exc
        clip.eval().to(dev)
        if dev.type == "cpu" and prec == "bf16":
            from clipvec.model.weights import store_matmul_weights_in_bf16

            store_matmul_weights_in_bf16(clip, folder)
        # The checkpoint is at hand now (loaded, or downloaded by loading): its preprocessing and
        # recorded name come from the same facts the importer and the Ray stage read.
        facts = facts_at_hand(model)
        image_size = clip.config.vision_config.image_size
        preprocessor = (
            facts.preprocessor()
            if facts
            else Preprocessor.from_model_folder(folder, image_size, family.image_processor)
        )
        log.info(
            "loaded %s on %s (%s, %d threads) in %.1fs",
            model,
            dev,
            prec,
            torch.get_num_threads(),
            time.perf_counter() - started,
        )
        return cls(
            clip,
            tokenizer,
            preprocessor,
            name=facts.name if facts else recorded_model_name(model),
            device=dev,
            precision=prec,
            batch_size=batch_size,
            content_id=content_id(facts.folder) if facts else None,
            family=family,
        )

    @classmethod
    def _load_traced(
        cls, model: str, device: str, precision: str, threads: int, batch_size: int, cache: Path
    ) -> ClipEncoder | None:
        """``model`` from its trace in ``cache`` without transformers; None: load it through transformers."""
        from clipvec.model.runtimes.traced import traced_towers

        facts = facts_at_hand(model)
        found = traced_towers(facts, device, precision, threads, cache) if facts else None
        if found is None:
            return None
        towers, prec, identity = found
        return cls._from_towers(facts, identity, towers, "torch", prec, batch_size)

    @classmethod
    def _load_exported(
        cls, model: str, runtime: str, device: str, precision: str, threads: int, batch_size: int, cache: Path
    ) -> ClipEncoder:
        """``model`` run by ``runtime`` from its cached export: neither torch nor transformers' models imported."""
        from clipvec.model.runtimes import check_runtime, load_towers

        prec = check_runtime(runtime, precision, device)
        started = time.perf_counter()
        facts = facts_at_hand(model)
        if facts is None:  # not here yet: downloaded (or the reason why not) as the torch path does
            folder = resolve_model(model)
            facts = facts_at_hand(model) or facts_at_hand(str(folder))
            if facts is None:
                raise ModelLoadError(model_help(model, "its config.json cannot be read"))
        identity = content_id(facts.folder)
        if identity is None:
            raise ModelLoadError(model_help(model, "its weights cannot be read, so it cannot be exported"))
        threads = threads or Settings().resolved_threads()
        towers = load_towers(facts.folder, identity, runtime, prec, threads=threads, cache_root=cache)
        log.info(
            "loaded %s with %s (%s, %d threads) in %.1fs",
            model,
            runtime,
            prec,
            threads,
            time.perf_counter() - started,
        )
        return cls._from_towers(facts, identity, towers, runtime, prec, batch_size)

    @classmethod
    def _from_towers(
        cls, facts: Any, identity: str, towers: Any, runtime: str, precision: str, batch_size: int
    ) -> ClipEncoder:
        """An encoder over an exported model's ``towers`` (no transformers model), on the CPU."""
        return cls(
            None,
            None,
            facts.preprocessor(),
            name=facts.name,
            device="cpu",
            precision=precision,
            batch_size=batch_size,
            content_id=identity,
            family=family_named(facts.family) or DEFAULT_FAMILY,
            runtime=runtime,
            towers=towers,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ClipEncoder:
        return cls.load(
            settings.model,
            device=settings.device,
            precision=settings.precision,
            threads=settings.resolved_threads(),
            batch_size=settings.batch_size,
            runtime=settings.runtime,
            export_cache=settings.export_cache_dir(),
            trace=settings.torch_trace,
        )

    # ------------------------------------------------------------------ encoding
    @contextlib.contextmanager
    def _run(self) -> Iterator[None]:
        import torch

        with self._lock, torch.inference_mode():
            if self.device.type == "cpu" and self.precision == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    yield
            else:
                yield

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32 pixels -> (N, dim) float32 unit vectors, in batches."""
        out = np.empty((len(pixels), self.dim), dtype=np.float32)
        for start in range(0, len(pixels), self.batch_size):
            chunk = np.ascontiguousarray(pixels[start : start + self.batch_size])
            out[start : start + len(chunk)] = self._image_vectors(chunk)
        return out

    def _image_vectors(self, chunk: np.ndarray) -> np.ndarray:
        if self.model is None:  # an exported model's towers (another runtime, or torch's trace)
            with self._lock:
                return self._towers.image_vectors(chunk)
        import torch

        from clipvec.model.towers import normalised

        pixels = torch.from_numpy(chunk).to(self.device, dtype=self._towers.pixel_dtype())  # fp16 on GPU
        with self._run():
            return normalised(self._towers.image_features(pixels))

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Decoded RGB images -> (N, dim) unit vectors."""
        if not images:
            return np.empty((0, self.dim), dtype=np.float32)
        return self.encode_pixels(self.preprocessor.batch(list(images)))

    def tokenize(self, texts: Sequence[str]) -> tuple[Any, Any, list[bool], list[int]]:
        """Token ids and mask as the family pads them (CLIP: to the longest text), cut to its token limit.

        Torch tensors with the torch runtime, int64 numpy arrays with the others (the same ids).
        """
        return self._towers.tokenize(texts)

    def encode_texts(self, texts: Sequence[str]) -> TextEncoding:
        """Texts -> unit vectors, with per-text truncation flags."""
        if not texts:
            return TextEncoding(np.empty((0, self.dim), dtype=np.float32), [], [])
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        truncated: list[bool] = []
        counts: list[int] = []
        for start in range(0, len(texts), self.batch_size):
            input_ids, mask, trunc, cnt = self.tokenize(texts[start : start + self.batch_size])
            vectors[start : start + len(trunc)] = self._text_vectors(input_ids, mask)
            truncated += trunc
            counts += cnt
        return TextEncoding(vectors, truncated, counts)

    def encode_text(self, text: str) -> tuple[np.ndarray, bool]:
        enc = self.encode_texts([text])
        return enc.vectors[0], enc.truncated[0]

    def _text_vectors(self, input_ids: Any, mask: Any) -> np.ndarray:
        if self.model is None:
            with self._lock:
                return self._towers.text_vectors(input_ids, mask)
        from clipvec.model.towers import normalised

        with self._run():
            return normalised(self._towers.text_features(input_ids.to(self.device), mask.to(self.device)))
