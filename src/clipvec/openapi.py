"""Moved to ``clipvec.serving.openapi``; this alias goes once every caller imports it from there."""

import sys

from clipvec.serving import openapi as _moved

sys.modules[__name__] = _moved
