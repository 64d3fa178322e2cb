"""Where things live: a Milvus Lite file or a Milvus server, a local folder or an S3 prefix.

One rule for each question, used by every part of clipvec (they used to disagree):

* a Milvus URI with a scheme (``http://host:19530``, ``https://...``, ``tcp://...``) or a
  ``unix:`` socket is a server; anything else is a local path, which Milvus Lite opens as
  a database file (pymilvus wants its name to end in ``.db``);
* an images location that starts with ``s3://`` is an S3 bucket and prefix; anything else
  is a local folder;
* a model is a hub id (``openai/clip-vit-base-patch32``) or a local folder, which a
  collection records by its absolute path; answers to clients show a folder by its name
  only (``model_shown``), never where it lives on the server.
"""

from __future__ import annotations

import re

S3_SCHEME = "s3://"
LITE_SUFFIX = ".db"


def is_s3_uri(location: str) -> bool:
    """``s3://bucket/prefix`` rather than a local folder."""
    return location.startswith(S3_SCHEME)


def is_lite_uri(uri: str) -> bool:
    """A Milvus Lite file (``./milvus.db``) rather than a server (``http://host:19530``)."""
    return "://" not in uri and not uri.startswith("unix:")


def model_shown(model: str) -> str:
    """The model as clients see it: a hub id as is, a local folder by its last name (issue 21).

    A recorded local model is an absolute path (``/home/x/models/clip`` -> ``clip``); a hub
    id is relative, with at most one "/" and no "\\" (``openai/clip-vit-base-patch32``).
    """
    text = str(model)
    if not text.startswith(("/", "~", ".")) and text.count("/") <= 1 and "\\" not in text and ":" not in text:
        return text
    return re.split(r"[/\\]", text.rstrip("/\\"))[-1] or "model"
