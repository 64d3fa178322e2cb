"""Moved to ``clipvec.sources.scan``; this alias goes once every caller imports it from there."""

import sys

from clipvec.sources import scan as _moved

sys.modules[__name__] = _moved
