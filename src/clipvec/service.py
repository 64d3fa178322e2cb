"""Moved to ``clipvec.serving.service``; this alias goes once every caller imports it from there."""

import sys

from clipvec.serving import service as _moved

sys.modules[__name__] = _moved
