"""A ``clipvec`` process ends without Python's slow walk over torch's objects.

Once torch is imported, Python's teardown at exit took ~0.3 s of a 2-core machine: as it
clears the modules it runs the cyclic garbage collector several times over the ~170,000
objects torch made (issue 20.1: a tenth of every ``clipvec search``). At exit, one collection
(0.06 s) finds the garbage there is, and freezing what is left (``gc.freeze``) keeps the
teardown's collections from walking it again (0.3 s -> 0.1 s).

The exit handlers (Milvus Lite's helpers stopped, logging flushed, temporary folders removed)
run as before, and stdout and stderr are flushed as before. What changes: objects still alive
at exit may be left to the operating system instead of being freed one by one, so their
``__del__`` may not run -- which Python never promised at exit (its data model says so), and
which nothing in clipvec relies on: it closes its files, stores and helpers explicitly. An exit
handler runs only when the process exits, so a caller of ``main()`` in a longer-lived process
(the tests) is not affected until its own end.
"""

from __future__ import annotations

import atexit
import gc
import sys

_registered = False


def exit_without_teardown_walks() -> None:
    """From now on, this process's exit collects once and freezes the rest (once per process)."""
    global _registered
    if not _registered:
        _registered = True
        atexit.register(_collect_and_freeze)  # exit handlers run last-in first-out: this one late


def _collect_and_freeze() -> None:
    if "torch" not in sys.modules:
        return  # a small process: its teardown is quick anyway
    gc.collect()
    gc.freeze()
