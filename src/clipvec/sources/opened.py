"""What a file was when its bytes were read: size and mtime from the open file, not the scan.

A file replaced between the scan and the read was stored with its new bytes but the scan's
size and mtime; the next run then saw a size or mtime that was never stored and read it
again, on every run (issue 21). So the importer records the facts of the file it actually
read:

* a local file: ``os.fstat`` of the open descriptor the bytes come from;
  taken *before* the bytes are read, so a file rewritten in place during the read is seen
  as changed on the next run (read again) rather than trusted;
* an S3 object: the HEAD that s3fs took when it opened the object (``details``); s3fs reads
  every range with ``IfMatch`` on that ETag, so the bytes are that version's or the read fails.
"""

from __future__ import annotations

import io
import os
from dataclasses import replace
from typing import Any

from clipvec.sources.s3 import version_stamp
from clipvec.sources.types import FoundFile


def as_read(found: FoundFile, opened: Any) -> FoundFile:
    """``found`` with the size and mtime of ``opened``, the open file its bytes are read from."""
    try:
        fd = opened.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        fd = None
    if isinstance(fd, int):
        st = os.fstat(fd)
        return replace(found, size=st.st_size, mtime=st.st_mtime)
    details = getattr(opened, "details", None)  # s3fs: the object's HEAD, taken at open
    if isinstance(details, dict) and details.get("size") is not None and details.get("ETag"):
        stamp = version_stamp(details.get("LastModified"), str(details["ETag"]))
        return replace(found, size=int(details["size"]), mtime=stamp)
    return found  # nothing better known: the scan's facts
