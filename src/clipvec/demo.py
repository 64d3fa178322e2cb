"""Moved to ``clipvec.cli.demo``; this alias goes once every caller imports it from there."""

import sys

from clipvec.cli import demo as _moved

sys.modules[__name__] = _moved
