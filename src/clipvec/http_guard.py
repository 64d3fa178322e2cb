"""Moved to ``clipvec.serving.guard``; this alias goes once every caller imports it from there."""

import sys

from clipvec.serving import guard as _moved

sys.modules[__name__] = _moved
