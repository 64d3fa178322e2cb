"""Moved to ``clipvec.indexing.ray_stage``; this alias goes once every caller imports it from there."""

import sys

from clipvec.indexing import ray_stage as _moved

sys.modules[__name__] = _moved
