"""Moved to ``clipvec.indexing.skip_memory``; this alias goes once every caller imports it from there."""

import sys

from clipvec.indexing import skip_memory as _moved

sys.modules[__name__] = _moved
