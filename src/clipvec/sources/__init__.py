"""Where images come from: a local folder or an S3 prefix (see ``clipvec.sources.base``)."""

from clipvec.sources.base import *  # noqa: F403 - the package's public names, until it is split
