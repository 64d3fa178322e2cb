"""Moved to ``clipvec.store.lite_file``; this alias goes once every caller imports it from there."""

import sys

from clipvec.store import lite_file as _moved

sys.modules[__name__] = _moved
