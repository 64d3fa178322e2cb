"""``clipvec facets [--json]``: the cameras, lenses and formats with counts, and the dates.

What ``GET /facets`` answers, read from the collection here (a scan of a few scalar
columns; no model is loaded: the checkpoint's config.json names the collection). Each name
printed is a value ``clipvec search --camera``/``--lens``/``--format`` takes. Exit 0 done,
1 the collection is empty or missing, 2 the store cannot be opened.
"""

from __future__ import annotations

import argparse
import json

from clipvec.cli.reading import open_to_read
from clipvec.model.facts import require_facts
from clipvec.search.facets import facets_json, facets_lines
from clipvec.settings import Settings


def run_facets(settings: Settings, args: argparse.Namespace) -> int:
    identity = require_facts(settings.model).identity()
    store = open_to_read(settings, **identity.store_options())
    if store is None:
        return 1
    with store:
        answer = facets_json(store.facets())
    if args.json:
        print(json.dumps(answer))
    else:
        print("\n".join(facets_lines(answer)))
    return 0
