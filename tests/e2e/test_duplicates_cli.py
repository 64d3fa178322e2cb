"""``clipvec duplicates`` as users run it: a real import, then the command as a process (Milvus Lite).

One run per outcome (groups found, refused, missing); every option is tested in this process
in tests/unit/cli/test_duplicates_cmd.py.
"""

from __future__ import annotations

import json

from cli_process import run_clipvec
from cli_scenes import COPY_GROUPS, copy_groups, write_resized_copies

from clipvec.model.shapes import SHAPES_MODEL


def test_duplicates_lists_resized_and_reencoded_copies(tmp_path):
    images = tmp_path / "images"
    write_resized_copies(images)
    env = {
        "CLIPVEC_MODEL": str(SHAPES_MODEL),
        "CLIPVEC_MILVUS_URI": str(tmp_path / "milvus.db"),
        "CLIPVEC_IMAGES_DIR": str(images),
    }
    imported = run_clipvec(["import", "--no-progress"], env)
    assert imported.returncode == 0, imported.stderr

    found = run_clipvec(["duplicates", "--threshold", "0.9", "--json"], env)
    assert found.returncode == 0, found.stderr
    answer = json.loads(found.stdout)
    assert answer["images"] == 6 and answer["group_count"] == 3
    assert copy_groups(answer) == COPY_GROUPS

    refused = run_clipvec(["duplicates", "--threshold", "1.5"], env)
    assert refused.returncode == 2 and "threshold must be" in refused.stderr
    missing = run_clipvec(["duplicates"], {**env, "CLIPVEC_MILVUS_URI": str(tmp_path / "none.db")})
    assert missing.returncode == 1 and not (tmp_path / "none.db").exists()
