"""Moved to ``clipvec.serving.web``; this alias goes once every caller imports it from there."""

import sys

from clipvec.serving import web as _moved

sys.modules[__name__] = _moved
