"""Runs last (conftest moves it there): the suite left the working tree as it found it.

Under pytest-xdist the controller makes the same check when the session ends (conftest.py).

Tests must write only under their own temporary folders. A service fixture without
CLIPVEC_IMAGES_DIR once left uploads in ``images/uploads/``, which the next
``clipvec import`` put into the user's collection (issue 10).
"""

from __future__ import annotations

from tree_state import tree_changes, tree_state


def test_suite_left_the_tree_as_it_found_it(tree_at_start, services):
    services.stop_all()  # the shared services' folders go with them (they would at the session's end)
    changes = tree_changes(tree_at_start, tree_state())
    assert not changes, "the tests changed the working tree:\n" + "\n".join(changes)
