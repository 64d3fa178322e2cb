"""Moved to ``clipvec.cli.bench``; this alias goes once every caller imports it from there."""

import sys

from clipvec.cli import bench as _moved

sys.modules[__name__] = _moved
