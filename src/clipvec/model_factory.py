"""Moved to ``clipvec.model.factory``; this alias goes once every caller imports it from there."""

import sys

from clipvec.model import factory as _moved

sys.modules[__name__] = _moved
