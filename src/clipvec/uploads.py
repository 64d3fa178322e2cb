"""Moved to ``clipvec.sources.uploads``; this alias goes once every caller imports it from there."""

import sys

from clipvec.sources import uploads as _moved

sys.modules[__name__] = _moved
