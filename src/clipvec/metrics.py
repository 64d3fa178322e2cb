"""Moved to ``clipvec.serving.metrics``; this alias goes once every caller imports it from there."""

import sys

from clipvec.serving import metrics as _moved

sys.modules[__name__] = _moved
