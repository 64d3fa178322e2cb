"""The ``clipvec`` command line (also ``python -m clipvec``).

Every subcommand reads the same ``Settings`` (``CLIPVEC_*`` environment variables);
flags given on the command line override them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from clipvec.errors import ClipvecError
from clipvec.model.chatter import silence_transformers
from clipvec.settings import Settings

DESCRIPTION = """\
Search your own images by meaning with CLIP vectors stored in Milvus.

Every setting is an environment variable with the CLIPVEC_ prefix (see `clipvec config`);
a flag of the same name overrides it. Relative paths resolve against the current folder.
"""

EPILOG = """\
first steps:
  clipvec demo                            serve a folder of generated shapes with a small CLIP
                                          (offline), then search "a red circle" in the page
  clipvec import ~/Pictures               store the vectors of a folder (incremental)
  clipvec search "a dog on a beach"       nearest images to a text
  clipvec serve                           HTTP API and search page on http://127.0.0.1:3000/ui
  clipvec config                          the effective settings

`clipvec COMMAND --help` shows the options of one command; -v shows library logs and bars.
"""

# flag -> settings field; flags left out keep the environment's value.
_SETTING_FLAGS: dict[str, str] = {
    "model": "model",
    "device": "device",
    "precision": "precision",
    "threads": "threads",
    "batch_size": "batch_size",
    "decode_workers": "decode_workers",
    "max_pixels": "max_pixels",
    "milvus_uri": "milvus_uri",
    "milvus_token": "milvus_token",
    "collection": "collection",
    "metric": "metric",
    "index_type": "index_type",
}


def _add_model_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (env CLIPVEC_*)")
    g.add_argument("--model", help="HF id or local folder of a CLIP checkpoint (CLIPVEC_MODEL)")
    g.add_argument("--device", help="auto, cpu, cuda, cuda:1 (CLIPVEC_DEVICE)")
    g.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], help="(CLIPVEC_PRECISION)")
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


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {
        field: getattr(args, flag)
        for flag, field in _SETTING_FLAGS.items()
        if getattr(args, flag, None) is not None
    }
    return Settings(**overrides)


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
        "ADDRESS: ray://host:10001, host:6379 or auto (RAY_ADDRESS, else a local Ray)",
    )

    p = sub.add_parser("search", help="search the collection by text or by an example image")
    _add_model_flags(p)
    _add_store_flags(p)
    p.add_argument("query", nargs="?", help="the text to search for")
    p.add_argument("--image", type=Path, help="search by this example image instead")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--min-score", type=float, help="COSINE/IP: at least this; L2: at most this")
    p.add_argument("--path-prefix", help="only paths that start with this")
    p.add_argument("--json", action="store_true", help='print {"hits": [...]} as JSON')

    p = sub.add_parser(
        "make-model", help="write a random-weight CLIP folder (for offline trials and benchmarks)"
    )
    p.add_argument("out", type=Path)
    p.add_argument("--size", choices=["base", "tiny"], default="base")
    p.add_argument("--seed", type=int, default=0)

    sub.add_parser("bench", help="benchmark the original code path against ours (clipvec bench --help)")

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

    sub.add_parser("config", help="print the effective settings (auto values resolved, secrets hidden)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # all of its options belong to the benchmark's own parser
        from clipvec.cli.bench import main as bench_main

        rest = argv[1:]
        return bench_main(rest[1:] if rest[:1] == ["--"] else rest)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.verbose:
        logging.getLogger("clipvec").setLevel(logging.DEBUG)
    try:
        return _dispatch(args)
    except ClipvecError as err:
        print(f"clipvec: {err.detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("clipvec: interrupted", file=sys.stderr)
        return 130


_LOADS_A_MODEL = frozenset({"vectorize", "import", "search", "make-model", "demo"})


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "make-model":
        from clipvec.model.factory import make_random_model

        if not args.verbose:
            silence_transformers()
        print(make_random_model(args.out, size=args.size, seed=args.seed))
        return 0
    settings = settings_from_args(args)
    if args.command == "search" and (missing := _missing_lite_db(settings)):
        print(
            f"clipvec: there is no database at {missing} (CLIPVEC_MILVUS_URI); nothing was created. "
            "Import images first (clipvec import DIR), or point --milvus-uri at your database.",
            file=sys.stderr,
        )
        return 1
    if args.command in _LOADS_A_MODEL and not args.verbose:
        silence_transformers()
    if args.command == "config":
        print(json.dumps(effective_config(settings), indent=2))
        return 0
    if args.command == "serve":
        return _serve(settings, args.host, args.port)
    if args.command == "demo":
        from clipvec.cli.demo import run_demo

        _quiet_pymilvus(args.verbose)
        return run_demo(args, serve=_serve)
    if args.command == "vectorize":
        return _vectorize(settings, args)
    if args.command in ("import", "search", "drop"):
        _quiet_pymilvus(args.verbose)
    if args.command == "drop":
        return _drop(settings, args.yes)
    if args.command == "import":
        from clipvec.cli.import_cmd import run_import

        return run_import(settings, args)
    if args.command == "search":
        from clipvec.cli.search_cmd import run_search

        return run_search(settings, args)
    raise AssertionError(args.command)


def _drop(settings: Settings, yes: bool) -> int:
    """``clipvec drop``: start over (issue 9). Exit 0 dropped, 1 kept or absent."""
    from clipvec.store import drop_collection

    where = f"collection {settings.collection!r} at {settings.milvus_uri}"

    def confirm(count: int | None) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            print(f"clipvec: not deleting {where} without --yes (no terminal to ask)", file=sys.stderr)
            return False
        held = "an unknown number of" if count is None else str(count)
        answer = input(f"Delete {where} with {held} images? The image files stay. [y/N] ")
        return answer.strip().lower() in ("y", "yes")

    if drop_collection(
        settings.milvus_uri, settings.collection, token=settings.milvus_token, confirm=confirm
    ):
        print(f"deleted {where}")
        return 0
    print(f"{where}: nothing deleted")
    return 1


def _missing_lite_db(settings: Settings) -> Path | None:
    """The Milvus Lite file a read-only command would open, when it does not exist (Lite would create it)."""
    from clipvec.locations import is_lite_uri

    if not is_lite_uri(settings.milvus_uri):
        return None
    path = Path(settings.milvus_uri).expanduser().resolve()
    return None if path.exists() else path


_SECRET_WORDS = ("token", "key", "password", "secret")


def effective_config(settings: Settings) -> dict[str, object]:
    """The settings as they take effect: auto values resolved, paths absolute, secrets hidden."""
    from clipvec.locations import is_lite_uri, is_s3_uri
    from clipvec.model.device import resolve_device, resolve_precision

    out: dict[str, object] = settings.model_dump()
    device = resolve_device(settings.device)
    out["device"] = str(device)
    out["precision"] = resolve_precision(settings.precision, device)
    out["threads"] = settings.resolved_threads()
    out["decode_workers"] = settings.resolved_decode_workers()
    if is_lite_uri(settings.milvus_uri):
        out["milvus_uri"] = str(Path(settings.milvus_uri).expanduser().resolve())
    if not is_s3_uri(settings.images_dir):
        out["images_dir"] = str(Path(settings.images_dir).expanduser().resolve())
    out["thumb_dir"] = str(settings.thumb_dir_candidates()[0].resolve())
    if Path(settings.model).expanduser().is_dir():
        out["model"] = str(Path(settings.model).expanduser().resolve())
    for field, value in list(out.items()):
        if any(word in field for word in _SECRET_WORDS) and value:
            out[field] = "*** (set, hidden)"
    return out


def _quiet_pymilvus(verbose: bool) -> None:
    """pymilvus logs every failed call with a traceback; our own message says what failed."""
    import pymilvus  # noqa: F401 - importing it installs its log handlers, which we then quieten

    for name in ("pymilvus", "pymilvus.milvus_client"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if not verbose:  # milvus-lite 2.5.1 imports pkg_resources (setuptools<81 is pinned for it)
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)


def _serve(settings: Settings, host: str, port: int) -> int:
    """Run ``bentoml serve service:vectorization`` with these settings in its environment.

    Relative paths are made absolute here, against the folder the user is in: BentoML runs
    its workers in ``--working-dir``, where ``./milvus.db`` would be another database.
    The model is checked before any worker starts (``clipvec.serving.startup``).
    """
    from clipvec.serving.startup import absolute_path_env, resolve_model

    env = dict(os.environ)
    for field, value in settings.model_dump().items():
        env[f"CLIPVEC_{field.upper()}"] = str(value)
    env.update(absolute_path_env(settings, Path.cwd()))
    # Checked again in BentoML's main process; here it fails in a second, before BentoML and torch load.
    resolve_model(env["CLIPVEC_MODEL"])  # ModelLoadError -> main() prints it, exit 2
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "bentoml", "serve", "clipvec.serving.service:vectorization"]
    cmd += ["--host", host, "--port", str(port), "--working-dir", str(root.parent)]
    os.execvpe(cmd[0], cmd, env)
    return 0  # not reached


def _vectorize(settings: Settings, args: argparse.Namespace) -> int:
    from clipvec.images.prepare import prepare_image
    from clipvec.model.encoder import ClipEncoder

    encoder = ClipEncoder.from_settings(settings)
    if args.text is not None:
        if not args.text.strip():
            print("clipvec: the text is empty", file=sys.stderr)
            return 2
        vector, truncated = encoder.encode_text(args.text)
        out = {"vector": vector.tolist(), "dim": encoder.dim, "model": encoder.name, "truncated": truncated}
    else:
        try:
            data = args.image.read_bytes()
        except OSError as exc:
            print(f"clipvec: cannot read {args.image}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        prepared = prepare_image(data, encoder.preprocessor, max_pixels=settings.max_pixels)
        vector = encoder.encode_pixels(prepared.pixels[None])[0]
        out = {
            "vector": vector.tolist(),
            "dim": encoder.dim,
            "model": encoder.name,
            "format": prepared.format,
        }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
