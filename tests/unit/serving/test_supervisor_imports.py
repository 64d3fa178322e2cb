"""BentoML's supervisor imports the service module but never runs a model: no torch there (issue 20.1-2).

``bentoml serve service:vectorization`` imports ``service.py`` in its own process to find the
service, then starts the workers. torch (and transformers) in that import cost the supervisor
~1 s before any worker starts, and ~190 MB of RSS for as long as it runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_importing_the_service_imports_no_torch_transformers_or_milvus_client(tmp_path):
    code = (
        "import json, sys; import service; "
        "print(json.dumps(sorted(m for m in ('torch', 'transformers', 'pymilvus') if m in sys.modules)))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "BENTOML_HOME": str(tmp_path / "bentoml")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
