"""Where things live: a Milvus Lite file or a Milvus server, a local folder or an S3 prefix.

One rule for each question, used by every part of clipvec (they used to disagree):

* a Milvus URI with a scheme (``http://host:19530``, ``https://...``, ``tcp://...``) or a
  ``unix:`` socket is a server; anything else is a local path, which Milvus Lite opens as
  a database file (pymilvus wants its name to end in ``.db``);
* an images location that starts with ``s3://`` is an S3 bucket and prefix; anything else
  is a local folder.
"""

from __future__ import annotations

S3_SCHEME = "s3://"
LITE_SUFFIX = ".db"


def is_s3_uri(location: str) -> bool:
    """``s3://bucket/prefix`` rather than a local folder."""
    return location.startswith(S3_SCHEME)


def is_lite_uri(uri: str) -> bool:
    """A Milvus Lite file (``./milvus.db``) rather than a server (``http://host:19530``)."""
    return "://" not in uri and not uri.startswith("unix:")
