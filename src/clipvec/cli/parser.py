"""The ``clipvec`` command line's parser: subcommands, flags, and flags -> ``Settings``.

Every subcommand reads the same ``Settings`` (``CLIPVEC_*`` environment variables, then
``clipvec.toml`` in the current folder); flags given on the command line override them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from clipvec.cli.help_text import DESCRIPTION, EPILOG
from clipvec.settings import Settings

# flag -> settings field; flags left out keep the environment's (or clipvec.toml's) value.
_SETTING_FLAGS: dict[str, str] = {
    "model": "model",
    "device": "device",
    "precision": "precision",
    "runtime": "runtime",
    "threads": "threads",
    "batch_size": "batch_size",
    "decode_workers": "decode_workers",
    "max_pixels": "max_pixels",
    "milvus_uri": "milvus_uri",
    "milvus_token": "milvus_token",
    "collection": "collection",
    "metric": "metric",
    "index_type": "index_type",
    "service_url": "service_url",
    "images_dir": "images_dir",
    "watch": "watch",
    "settle": "watch_settle",
    "interval": "watch_interval",
}


def _add_model_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (env CLIPVEC_*)")
    g.add_argument(
        "--model",
        help="HF id or local folder of a CLIP, SigLIP, MetaCLIP 2, Chinese-CLIP or AltCLIP checkpoint (CLIPVEC_MODEL)",
    )
    g.add_argument("--device", help="auto, cpu, cuda, cuda:1 (CLIPVEC_DEVICE)")
    g.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16", "fp16", "int8"],
        help="auto, fp32, bf16, fp16 (torch), int8 (onnxruntime, openvino) (CLIPVEC_PRECISION)",
    )
    g.add_argument(
        "--runtime",
        choices=["torch", "onnxruntime", "openvino"],
        help="what runs the model; others than torch export it once (CLIPVEC_RUNTIME)",
    )
    g.add_argument("--threads", type=int, help="torch threads, 0 = all available cores (CLIPVEC_THREADS)")
    g.add_argument("--batch-size", type=int, help="images per encoder batch (CLIPVEC_BATCH_SIZE)")
    g.add_argument("--max-pixels", type=int, help="refuse larger images (CLIPVEC_MAX_PIXELS)")


def _add_store_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("storage (env CLIPVEC_*)")
    g.add_argument(
        "--milvus-uri", help="local .db file (Milvus Lite) or http://host:19530 (CLIPVEC_MILVUS_URI)"
    )
    g.add_argument("--milvus-token", help="user:password or API key (CLIPVEC_MILVUS_TOKEN)")
    g.add_argument("--collection", help="collection name (CLIPVEC_COLLECTION)")
    g.add_argument("--metric", choices=["COSINE", "L2", "IP"], help="for new collections (CLIPVEC_METRIC)")
    g.add_argument("--index-type", help="auto, FLAT, IVF_FLAT, HNSW, ... (CLIPVEC_INDEX_TYPE)")


def _add_watch_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("watch mode (env CLIPVEC_*)")
    g.add_argument(
        "--settle",
        type=float,
        help="seconds a changed file must stay the same before it is read (CLIPVEC_WATCH_SETTLE)",
    )
    g.add_argument(
        "--interval",
        type=float,
        help="seconds between passes when the folder cannot be watched, and between S3 listings (CLIPVEC_WATCH_INTERVAL)",
    )


def flag_settings(args: argparse.Namespace) -> dict[str, object]:
    """The settings given as flags on this command line (field -> value)."""
    return {
        field: getattr(args, flag)
        for flag, field in _SETTING_FLAGS.items()
        if getattr(args, flag, None) is not None
    }


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings(**flag_settings(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clipvec",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging, library warnings and progress bars"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="start the HTTP service (BentoML) on --port")
    _add_model_flags(p)
    _add_store_flags(p)
    p.add_argument("--port", type=int, default=3000)
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0: every interface)",
    )
    p.add_argument(
        "--watch",
        action="store_true",
        default=None,
        help="keep the images folder indexed while the service runs (CLIPVEC_WATCH)",
    )
    _add_watch_flags(p)

    p = sub.add_parser("vectorize", help="print the vector of a text or an image file as JSON")
    _add_model_flags(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--text")
    what.add_argument("--image", type=Path)

    p = sub.add_parser(
        "import", help="import a folder or s3://bucket/prefix of images into Milvus (incremental, resumable)"
    )
    _add_model_flags(p)
    _add_store_flags(p)
    p.add_argument(
        "folder", nargs="?", help="a folder or s3://bucket/prefix; default: CLIPVEC_IMAGES_DIR (images)"
    )
    p.add_argument("--prune", action="store_true", help="remove entries whose files are gone")
    p.add_argument("--errors-file", type=Path, help="write failed files and reasons here (JSON lines)")
    p.add_argument("--decode-workers", type=int, help="decoder threads (CLIPVEC_DECODE_WORKERS)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="if another process has the Milvus Lite file open, wait this long for it (default: refuse at once)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="run the import as a Ray Data pipeline on a Ray cluster (pip install -e '.[ray]'); "
        "ADDRESS: ray://host:10001, host:6379 or auto (RAY_ADDRESS, else a new local Ray)",
    )

    p = sub.add_parser(
        "watch",
        help="keep a folder (or an S3 prefix, polled) indexed: one incremental pass, then its changes (Ctrl-C stops)",
    )
    _add_model_flags(p)
    _add_store_flags(p)
    p.add_argument(
        "folder", nargs="?", help="a folder or s3://bucket/prefix; default: CLIPVEC_IMAGES_DIR (images)"
    )
    p.add_argument("--decode-workers", type=int, help="decoder threads (CLIPVEC_DECODE_WORKERS)")
    p.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="if another process has the Milvus Lite file open, wait this long for it (default: refuse at once)",
    )
    _add_watch_flags(p)

    p = sub.add_parser("search", help="search the collection by text or by an example image")
    _add_model_flags(p)
    _add_store_flags(p)
    p.add_argument("query", nargs="?", help="the text to search for")
    p.add_argument("--image", type=Path, help="search by this example image instead")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--min-score", type=float, help="COSINE/IP: at least this; L2: at most this")
    p.add_argument("--path-prefix", help="only paths that start with this")
    arithmetic = p.add_argument_group(
        "query arithmetic",
        "add or subtract texts and example images: their vectors are summed and normalised",
    )
    arithmetic.add_argument("--plus", action="append", metavar="TEXT", help="add this text (repeatable)")
    arithmetic.add_argument(
        "--minus", action="append", metavar="TEXT", help="subtract this text (repeatable)"
    )
    arithmetic.add_argument(
        "--like",
        action="append",
        metavar="IMAGE",
        help="add this image: a stored path (its stored vector; left out of the results) or an image file",
    )
    arithmetic.add_argument(
        "--unlike", action="append", metavar="IMAGE", help="subtract this image (as --like)"
    )
    _add_filter_flags(p)
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help='print {"hits": [...]} as JSON')
    shown.add_argument(
        "--paths",
        action="store_true",
        help="print only the results' absolute file paths, one per line (for xargs)",
    )
    p.add_argument("--open", action="store_true", help="open the results with the system's image viewer")
    p.add_argument(
        "--service",
        "--service-url",
        dest="service_url",
        metavar="URL",
        help="ask the clipvec service running at URL (e.g. http://127.0.0.1:3000) instead of loading "
        "the model here; it searches its own collection (CLIPVEC_SERVICE_URL)",
    )

    p = sub.add_parser(
        "duplicates",
        help="list groups of near-duplicate images (resized, re-encoded, cropped, bursts); deletes nothing",
    )
    p.add_argument(
        "--model", help="the collection's model, for its name and dimension; not loaded (CLIPVEC_MODEL)"
    )
    _add_store_flags(p)
    p.add_argument(
        "--threshold",
        type=float,
        default=0.95,
        help="cosine similarity at or above which two images are near-duplicates (default 0.95)",
    )
    p.add_argument("--path-prefix", help="only images whose path starts with this")
    p.add_argument("--limit", type=int, help="print only the N biggest groups")
    p.add_argument("--json", action="store_true", help="print the groups as JSON")

    p = sub.add_parser(
        "facets",
        help="list the cameras, lenses and formats with counts, and the range of dates taken",
    )
    p.add_argument(
        "--model", help="the collection's model, for its name and dimension; not loaded (CLIPVEC_MODEL)"
    )
    _add_store_flags(p)
    p.add_argument("--json", action="store_true", help="print them as JSON (as GET /facets answers)")

    p = sub.add_parser(
        "make-model",
        help="write a random-weight model folder of any family (for offline trials and benchmarks)",
    )
    p.add_argument("out", type=Path)
    p.add_argument(
        "--size",
        choices=["base", "full", "tiny"],
        default="base",
        help="the released architecture (base, or full: the same) or tiny towers for fast tests",
    )
    p.add_argument(
        "--family",
        choices=["clip", "siglip", "siglip2", "metaclip_2", "chinese_clip", "altclip"],
        default="clip",
        help="the model family (config.json model_type; siglip2: a fixed-resolution SigLIP 2)",
    )
    p.add_argument("--seed", type=int, default=0)

    sub.add_parser("bench", help="benchmark the original code path against ours (clipvec bench --help)")

    p = sub.add_parser(
        "migrate",
        help="upgrade a collection to schema version 2 (date, camera, lens, place) in place, no re-encoding",
        description="Re-read each record's photo metadata from its file (a file that is gone keeps its "
        "record, metadata unknown) and rewrite the records with their stored vectors into the current "
        "schema. No model is loaded. Safe to interrupt and run again: it resumes.",
    )
    _add_store_flags(p)
    p.add_argument("--images-dir", help="where the collection's relative paths live (CLIPVEC_IMAGES_DIR)")
    p.add_argument("--no-progress", action="store_true", help="no progress lines")

    p = sub.add_parser("drop", help="delete a collection (all its records), after asking")
    _add_store_flags(p)
    p.add_argument("--yes", action="store_true", help="do not ask")

    p = sub.add_parser(
        "demo",
        help="serve a generated folder of coloured shapes with the small shapes CLIP (offline)",
        description="Generate coloured-shape images, import them with the small CLIP trained on "
        "shapes (tests/assets/shapes-clip), then serve the search page. Needs a source checkout.",
    )
    p.add_argument("--dir", type=Path, default=Path("demo"), help="demo images and database (default ./demo)")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--per-class", type=int, default=2, help="images per colour and shape (default 2)")
    p.add_argument("--no-serve", action="store_true", help="prepare the folder and the database only")

    p = sub.add_parser(
        "config",
        help="print the effective settings and where each came from (flag, env, clipvec.toml, default)",
    )
    _add_model_flags(p)
    _add_store_flags(p)
    p.add_argument(
        "--json", action="store_true", help="the values only, as JSON (auto resolved, secrets hidden)"
    )

    p = sub.add_parser(
        "init",
        help="write ./clipvec.toml with the settings given, which every command run here then reads",
        description="Write the settings given as flags to clipvec.toml in the current folder. Every "
        "clipvec command, make run, bentoml serve service:vectorization, milvus_import.py and "
        "milvus_search.py run in this folder read it; CLIPVEC_* variables and flags override it.",
    )
    _add_model_flags(p)
    _add_store_flags(p)
    p.add_argument("--images-dir", help="folder imported by default (CLIPVEC_IMAGES_DIR)")
    p.add_argument(
        "--force",
        action="store_true",
        help="change an existing clipvec.toml (the settings given; the others stay)",
    )
    return parser


def _add_filter_flags(p: argparse.ArgumentParser) -> None:
    """``clipvec search``'s photo filters; their values are read as the HTTP query's (search.filter_params)."""
    group = p.add_argument_group(
        "photo filters", "applied inside the search: the best matches among these photos"
    )
    group.add_argument("--taken-after", metavar="DATE", help="taken at or after this ISO date or date-time")
    group.add_argument("--taken-before", metavar="DATE", help="taken before this ISO date or date-time")
    group.add_argument("--camera", metavar="NAME", help="camera make or model contains this (any case)")
    group.add_argument("--lens", metavar="NAME", help="lens name contains this (any case)")
    group.add_argument("--near", metavar="LAT,LON,KM", help="taken within KM of this place")
    group.add_argument("--orientation", choices=["landscape", "portrait", "square"])
    group.add_argument("--min-width", metavar="PIXELS", help="at least this wide")
    group.add_argument("--min-height", metavar="PIXELS", help="at least this high")
    group.add_argument("--format", metavar="FORMATS", help="only these formats, comma-separated (jpeg,heic)")
    group.add_argument(
        "--sort",
        choices=["score", "taken"],
        help="score (default): best first; taken: the same hits oldest first",
    )
