"""The ``clipvec`` command line (see ``clipvec.cli.main``)."""

from clipvec.cli.main import *  # noqa: F403 - the package's public names, until it is split
from clipvec.cli.main import build_parser, main, os  # noqa: F401
