"""Moved to ``clipvec.model.chatter``; this alias goes once every caller imports it from there."""

import sys

from clipvec.model import chatter as _moved

sys.modules[__name__] = _moved
