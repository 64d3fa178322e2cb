"""The benchmark's inputs: JPEG photos of 1 to 12 megapixels built from real photos, a random ViT-B/32."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from clipvec.cli.bench.machine import log

DEFAULT_CACHE = Path(".bench-cache")
PHOTO_SOURCES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")
NOISE_SIGMA = 5.0  # sensor-like noise: brings the JPEGs to ~0.25 bytes/pixel, like phone photos
ASPECTS = ((4, 3), (3, 2), (16, 9), (1, 1), (3, 4), (2, 3), (9, 16))


def build_photos(
    folder: Path,
    count: int,
    *,
    seed: int = 0,
    megapixels: tuple[float, float] = (1.0, 12.0),
    quiet: bool = False,
) -> list[Path]:
    """``count`` JPEG photos of 1 to 12 megapixels (cached): mosaics of real photos + sensor noise.

    scikit-image's photos are small, so each output tiles 1 to 3 x 1 to 3 random crops of
    them (flipped, tinted), upscaled to the target size, with mild Gaussian noise so that
    the JPEG (quality 90, 4:2:0) carries about as much entropy as a camera photo.
    """
    from PIL import Image
    from skimage import data as skdata

    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder.parent / ".gitignore"
    if folder.parent.name.startswith(".bench") and not ignore.exists():
        ignore.write_text("*\n")  # keep the cache out of git without touching the repo's .gitignore
    rng = np.random.default_rng(seed)
    # Even spread of sizes over [1, 12] MP, shuffled: every run with the same count sees the same mix.
    sizes = np.linspace(*megapixels, count) if count > 1 else np.array([sum(megapixels) / 2])
    rng.shuffle(sizes)
    sources: list[Image.Image] | None = None
    paths: list[Path] = []
    for i, mp in enumerate(sizes):
        aw, ah = ASPECTS[int(rng.integers(len(ASPECTS)))]
        height = int(round((mp * 1e6 * ah / aw) ** 0.5))
        width = int(round(height * aw / ah))
        path = folder / f"photo_{seed}_{i:04d}_{width}x{height}.jpg"
        tiles_x, tiles_y = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        tile_picks = [
            (int(rng.integers(len(PHOTO_SOURCES))), rng.random(4), bool(rng.integers(2)), rng.random(3))
            for _ in range(tiles_x * tiles_y)
        ]
        noise_seed = int(rng.integers(1 << 31))
        paths.append(path)
        if path.exists():
            continue
        if sources is None:
            sources = [Image.fromarray(getattr(skdata, name)()[..., :3]) for name in PHOTO_SOURCES]
        canvas = Image.new("RGB", (width, height))
        for t, (src_i, crop_r, flip, tint) in enumerate(tile_picks):
            tx, ty = t % tiles_x, t // tiles_x
            box = (tx * width // tiles_x, ty * height // tiles_y)
            size = ((tx + 1) * width // tiles_x - box[0], (ty + 1) * height // tiles_y - box[1])
            src = sources[src_i]
            cw = max(16, int(src.width * (0.5 + 0.5 * crop_r[0])))
            ch = max(16, int(src.height * (0.5 + 0.5 * crop_r[1])))
            left = int((src.width - cw) * crop_r[2])
            top = int((src.height - ch) * crop_r[3])
            tile = src.crop((left, top, left + cw, top + ch))
            if flip:
                tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            tile = tile.resize(size, Image.Resampling.BICUBIC)
            gains = (0.85 + 0.3 * tint).astype(np.float32)
            arr = np.asarray(tile, dtype=np.float32) * gains
            canvas.paste(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)), box)
        arr = np.asarray(canvas, dtype=np.float32)
        noise = np.random.default_rng(noise_seed).standard_normal(arr.shape, dtype=np.float32)
        arr += noise * NOISE_SIGMA
        img = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
        tmp = path.with_suffix(".part")
        img.save(tmp, format="JPEG", quality=90)
        tmp.rename(path)
        log(f"  photo {i + 1}/{count}: {width}x{height} ({mp:.1f} MP)", quiet=quiet)
    return paths


def user_photos(folder: Path, limit: int | None = None) -> list[tuple[Path, tuple[int, int]]]:
    """The images directly in ``folder`` as they are (the user's own), with their sizes from the headers.

    Files Pillow does not recognise as an image (and hidden ones) are left out; sorted by
    name, the first ``limit`` when given. Only the top level: the benchmark's import links
    the photos by name into one folder.
    """
    from PIL import Image

    if not folder.is_dir():
        return []
    found: list[tuple[Path, tuple[int, int]]] = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            with Image.open(path) as image:
                found.append((path, image.size))
        except (OSError, ValueError, Image.DecompressionBombError):
            continue  # not an image Pillow knows (or one too large to be one)
        if limit is not None and len(found) >= limit:
            break
    return found


def ensure_model(folder: Path, *, quiet: bool = False) -> Path:
    """A random-weight full-size ViT-B/32 folder, written once."""
    if (folder / "model.safetensors").exists():
        return folder
    from clipvec.model.factory import make_random_model

    log(f"writing a random-weight ViT-B/32 to {folder} (once)", quiet=quiet)
    tmp = folder.with_name(folder.name + ".partial")
    make_random_model(tmp, "base")
    tmp.rename(folder)
    return folder


def size_spread(paths: Sequence[Path], megapixels: Sequence[float], count: int) -> list[Path]:
    """``count`` of ``paths`` evenly spread over the size range (same size mix as the whole set)."""
    order = sorted(range(len(paths)), key=lambda i: megapixels[i])
    count = max(1, min(count, len(paths)))
    picks = sorted({order[round(k * (len(order) - 1) / max(1, count - 1))] for k in range(count)})
    return [paths[i] for i in picks]
