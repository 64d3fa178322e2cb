"""Moved to ``clipvec.serving.startup``; this alias goes once every caller imports it from there."""

import sys

from clipvec.serving import startup as _moved

sys.modules[__name__] = _moved
