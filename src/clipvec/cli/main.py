"""``clipvec COMMAND``: parse, set up logging, run the command, turn errors into exit codes.

Exit codes: 0 done, 1 the command ran but found a problem (failed files, nothing found to
delete, an empty or missing collection), 2 it could not run (a ``ClipvecError``: its one-line
detail is printed), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from clipvec.cli.exit import exit_without_teardown_walks
from clipvec.cli.parser import build_parser, flag_settings, settings_from_args
from clipvec.errors import ClipvecError
from clipvec.locations import is_lite_uri
from clipvec.model.chatter import silence_transformers
from clipvec.settings import CONFIG_FILE, Settings, config_path, setting_origins
from clipvec.shell import shown_command

_LOADS_A_MODEL = frozenset({"vectorize", "import", "watch", "search", "make-model", "demo"})
# Commands that run the configured model here (search with --service asks the service's).
_RUNS_THE_MODEL = frozenset({"vectorize", "import", "watch", "search", "serve"})


def main(argv: Sequence[str] | None = None) -> int:
    exit_without_teardown_walks()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # all of its options belong to the benchmark's own parser
        from clipvec.cli.bench import main as bench_main

        rest = argv[1:]
        try:
            return bench_main(rest[1:] if rest[:1] == ["--"] else rest)
        except ClipvecError as err:  # a model it cannot run: one line, as every command says it
            print(f"clipvec: {err.detail}", file=sys.stderr)
            return 2
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # huggingface_hub prints its warnings with its own handler and passes them on to the root
    # one too: every warning came twice (transformers does not pass them on).
    logging.getLogger("huggingface_hub").propagate = False
    if args.verbose:
        logging.getLogger("clipvec").setLevel(logging.DEBUG)
    try:
        return _dispatch(args)
    except ClipvecError as err:
        print(f"clipvec: {err.detail}", file=sys.stderr)
        return 2
    except ValidationError as err:  # a CLIPVEC_* value or a flag out of range
        print(f"clipvec: {_setting_problems(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("clipvec: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "make-model":
        from clipvec.model.factory import make_random_model

        if not args.verbose:
            silence_transformers()
        print(make_random_model(args.out, size=args.size, seed=args.seed, family=args.family))
        return 0
    if args.command == "init":  # before the settings are read: --force mends a broken clipvec.toml
        from clipvec.cli.init_cmd import run_init

        return run_init(flag_settings(args), args.force)
    settings = settings_from_args(args)
    if args.command in _RUNS_THE_MODEL and not (args.command == "search" and settings.service_url):
        _family_supported(settings.model)
    if (
        args.command in ("duplicates", "migrate", "facets")
        or (args.command == "search" and not settings.service_url)
    ) and (missing := _missing_lite_db(settings)):
        print(
            f"clipvec: there is no database at {missing} (CLIPVEC_MILVUS_URI); nothing was created. "
            "Import images first (clipvec import DIR), or point --milvus-uri at your database.",
            file=sys.stderr,
        )
        return 1
    if args.command in _LOADS_A_MODEL and not args.verbose:
        silence_transformers()
    if args.command in ("serve", "import", "watch"):  # search, vectorize: the encoder checks later
        _model_at_hand(settings.model)
    if args.command == "serve" and settings.serving_conflict() is None:  # refused otherwise: no tip
        # make run: the first-run advice's CLIPVEC_MODEL=... make run
        _suggest_init(settings, flag_settings(args))
    if args.command == "config":
        from clipvec.cli.config_cmd import run_config

        return run_config(settings, flag_settings(args), as_json=args.json)
    if args.command == "serve":
        from clipvec.cli.serve_cmd import run_serve

        return run_serve(settings, args.host, args.port)
    if args.command == "demo":
        from clipvec.cli.demo import run_demo
        from clipvec.cli.serve_cmd import run_serve

        _quiet_pymilvus(args.verbose)
        return run_demo(args, serve=run_serve)
    if args.command == "vectorize":
        from clipvec.cli.vectorize_cmd import run_vectorize

        return run_vectorize(settings, args)
    _quiet_pymilvus(args.verbose)  # import, watch, search, drop, duplicates, migrate, facets
    if args.command == "migrate":
        from clipvec.cli.migrate_cmd import run_migrate

        return run_migrate(settings, quiet=args.no_progress)
    if args.command == "drop":
        from clipvec.cli.drop_cmd import run_drop

        return run_drop(settings, args.yes)
    if args.command == "import":
        from clipvec.cli.import_cmd import run_import

        return run_import(settings, args)
    if args.command == "watch":
        from clipvec.cli.watch_cmd import run_watch

        return run_watch(settings, args)
    if args.command == "search":
        from clipvec.cli.search_cmd import run_search

        return run_search(settings, args)
    if args.command == "duplicates":
        from clipvec.cli.duplicates_cmd import run_duplicates

        return run_duplicates(settings, args)
    if args.command == "facets":
        from clipvec.cli.facets_cmd import run_facets

        return run_facets(settings, args)
    raise AssertionError(args.command)


def _family_supported(model: str) -> None:
    """Another family's checkpoint is refused in one line (``UnsupportedModelFamily``: exit 2)
    before anything else is opened, and before torch is imported or a weight read."""
    from clipvec.model.checkpoint import family_at_hand

    family_at_hand(model)


def _model_at_hand(model: str) -> None:
    """A model not on this machine is downloaded now, before torch loads (seconds), or the run
    stops in about a second with ``make run``'s message when the hub cannot be reached."""
    from clipvec.model.checkpoint import local_folder, resolve_model

    if local_folder(model) is None:
        resolve_model(model)  # ModelLoadError: printed by main(), exit 2


def _suggest_init(settings: Settings, flags: dict[str, object]) -> None:
    """A model given for one run (env or flag) while no clipvec.toml remembers one: say how to keep it.

    A tip, not a file written behind the user's back: runs leave only their data where they ran.
    """
    if config_path().exists() or setting_origins(flags)["model"] not in ("env", "flag"):
        return
    print(
        f"clipvec: tip: `{shown_command()} init --model {shlex.quote(settings.model)}` keeps this model "
        f"for every command run in this folder ({CONFIG_FILE})",
        file=sys.stderr,
    )


def _setting_problems(err: ValidationError) -> str:
    """One line per bad setting, named as the user sets it: ``CLIPVEC_TOP_K (--top-k): ...``."""
    parts = []
    for problem in err.errors():
        field = str(problem["loc"][0]) if problem.get("loc") else "?"
        parts.append(f"CLIPVEC_{field.upper()} (--{field.replace('_', '-')}): {problem['msg']}")
    return "invalid setting: " + "; ".join(parts)


def _missing_lite_db(settings: Settings) -> Path | None:
    """The Milvus Lite file a read-only command would open, when it does not exist (Lite would create it)."""
    if not is_lite_uri(settings.milvus_uri):
        return None
    path = Path(settings.milvus_uri).expanduser().resolve()
    return None if path.exists() else path


def _quiet_pymilvus(verbose: bool) -> None:
    """pymilvus logs every failed call with a traceback; our own message says what failed."""
    import pymilvus  # noqa: F401 - importing it installs its log handlers, which we then quieten

    for name in ("pymilvus", "pymilvus.milvus_client"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if not verbose:  # milvus-lite 2.5.1 imports pkg_resources (setuptools<81 is pinned for it)
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)


if __name__ == "__main__":
    raise SystemExit(main())
