"""Moved to ``clipvec.images.prepare``; this alias goes once every caller imports it from there."""

import sys

from clipvec.images import prepare as _moved

sys.modules[__name__] = _moved
