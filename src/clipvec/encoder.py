"""Moved to ``clipvec.model.encoder``; this alias goes once every caller imports it from there."""

import sys

from clipvec.model import encoder as _moved

sys.modules[__name__] = _moved
