"""``clipvec search --camera ...`` and ``clipvec facets`` as users run them: a real import of
photos with real EXIF blocks, then the commands as processes (Milvus Lite, shapes model).

One process per command; every filter flag and the facets' printing are tested in this
process in tests/unit/cli/test_facets_cmd.py.
"""

from __future__ import annotations

import json

from cli_process import run_clipvec
from photo_corpus import write_filter_photos

from clipvec.model.shapes import SHAPES_MODEL


def test_search_with_filters_and_facets(tmp_path):
    images = tmp_path / "images"
    write_filter_photos(images)
    env = {
        "CLIPVEC_MODEL": str(SHAPES_MODEL),
        "CLIPVEC_MILVUS_URI": str(tmp_path / "milvus.db"),
        "CLIPVEC_IMAGES_DIR": str(images),
    }
    imported = run_clipvec(["import", "--no-progress"], env)
    assert imported.returncode == 0, imported.stderr

    def search(*flags: str) -> list[dict]:
        done = run_clipvec(["search", "a red circle", "--top-k", "10", "--json", *flags], env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["hits"]

    assert sorted(h["path"] for h in search("--camera", "eos r5")) == ["canon-1.jpg", "canon-2.png"]
    refused = run_clipvec(["search", "a red circle", "--near", "48.86,2.29"], env)
    assert refused.returncode == 2 and "near must be lat,lon,km" in refused.stderr, refused.stderr

    facets = run_clipvec(["facets", "--json"], env)
    assert facets.returncode == 0, facets.stderr
    answer = json.loads(facets.stdout)
    assert answer["count"] == 5
    assert answer["cameras"][0] == {"value": "Canon EOS R5", "count": 2}
