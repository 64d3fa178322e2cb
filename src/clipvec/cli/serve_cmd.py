"""``clipvec serve`` (``make run``): ``bentoml serve`` with these settings, paths made absolute."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from clipvec.errors import ClipvecError
from clipvec.settings import Settings, absolute_path_env, settings_env

SERVICE = "clipvec.serving.service:vectorization"


def run_serve(settings: Settings, host: str, port: int) -> int:
    """Run ``bentoml serve service:vectorization`` with these settings in its environment.

    Relative paths are made absolute here, against the folder the user is in: BentoML runs
    its workers in ``--working-dir``, where ``./milvus.db`` would be another database.
    The settings and the model are checked before any worker starts (``clipvec.serving.startup``).
    """
    from clipvec.model.checkpoint import resolve_model

    if conflict := settings.serving_conflict():  # checked again in BentoML's main process
        raise ClipvecError(conflict, code="settings_conflict")  # main() prints it, exit 2

    env = {**os.environ, **settings_env(settings), **absolute_path_env(settings, Path.cwd())}
    # Checked again in BentoML's main process; here it fails in a second, before BentoML and torch load.
    resolve_model(env["CLIPVEC_MODEL"])  # ModelLoadError -> main() prints it, exit 2
    package = Path(__file__).resolve().parents[1]  # src/clipvec
    cmd = [sys.executable, "-m", "bentoml", "serve", SERVICE]
    cmd += ["--host", host, "--port", str(port), "--working-dir", str(package.parent)]
    os.execvpe(cmd[0], cmd, env)
    return 0  # not reached
