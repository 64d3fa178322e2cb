"""Runs last (conftest moves it there): the suite left the working tree as it found it.

Tests must write only under their own temporary folders. A service fixture without
CLIPVEC_IMAGES_DIR once left uploads in ``images/uploads/``, which the next
``clipvec import`` put into the user's collection (issue 10).
"""

from __future__ import annotations


def test_suite_left_the_tree_as_it_found_it(tree_at_start, tree_now):
    now = tree_now
    changes = []
    for part in sorted(set(now) | set(tree_at_start)):
        added = sorted(now.get(part, set()) - tree_at_start.get(part, set()))
        removed = sorted(tree_at_start.get(part, set()) - now.get(part, set()))
        changes += [f"{part}: new   {line}" for line in added[:20]]
        changes += [f"{part}: gone  {line}" for line in removed[:20]]
    assert not changes, "the tests changed the working tree:\n" + "\n".join(changes)
