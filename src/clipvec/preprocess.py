"""Moved to ``clipvec.images.preprocess``; this alias goes once every caller imports it from there."""

import sys

from clipvec.images import preprocess as _moved

sys.modules[__name__] = _moved
