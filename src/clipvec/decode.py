"""Moved to ``clipvec.images.decode``; this alias goes once every caller imports it from there."""

import sys

from clipvec.images import decode as _moved

sys.modules[__name__] = _moved
