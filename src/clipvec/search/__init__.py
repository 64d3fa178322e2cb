"""query -> vector -> hits (see ``clipvec.search.query``)."""

from clipvec.search.query import *  # noqa: F403 - the package's public names, until it is split
