"""Moved to the ``clipvec.images`` package; this alias goes once every caller imports it from there."""

import sys

import clipvec.images as _moved

sys.modules[__name__] = _moved
