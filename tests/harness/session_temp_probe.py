"""Run by tests/e2e/test_session_temp.py as a pytest session of its own (not collected otherwise).

It leaves what a real session's tests and servers leave: files under ``tmp_path`` and a
child process's folder in the system temp folder.
"""

from __future__ import annotations

import subprocess
import sys


def test_leaves_files_as_the_suite_does(tmp_path, tmp_path_factory):
    (tmp_path / "milvus.db").write_bytes(b"x" * 1024)
    (tmp_path_factory.mktemp("services") / "log.txt").write_text("a service's log")
    # like bentoml serve's sockets or Milvus Lite's: a child's own folder in its temp folder
    child = "import tempfile, pathlib; pathlib.Path(tempfile.mkdtemp(prefix='bentoml-uds-'), 's').touch()"
    subprocess.run([sys.executable, "-c", child], check=True, timeout=60)
