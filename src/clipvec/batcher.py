"""Moved to ``clipvec.serving.batcher``; this alias goes once every caller imports it from there."""

import sys

from clipvec.serving import batcher as _moved

sys.modules[__name__] = _moved
