"""Moved to ``clipvec.indexing.importer``; this alias goes once every caller imports it from there."""

import sys

from clipvec.indexing import importer as _moved

sys.modules[__name__] = _moved
