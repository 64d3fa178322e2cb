"""What ``clipvec --help`` says around the commands: kept apart from the parser's wiring."""

from __future__ import annotations

DESCRIPTION = """\
Search your own images by meaning with CLIP vectors stored in Milvus.

Every setting is a key of ./clipvec.toml (written by `clipvec init`), an environment
variable with the CLIPVEC_ prefix, which overrides the file, and for many a flag of the same
name, which overrides both (`clipvec config` shows each value and where it came from).
Relative paths resolve against the current folder.
"""

EPILOG = """\
first steps:
  clipvec init --model ./random-clip      remember settings for this folder (./clipvec.toml)
  clipvec demo                            serve a folder of generated shapes with a small CLIP
                                          (offline), then search "a red circle" in the page
  clipvec import ~/Pictures               store the vectors of a folder (incremental)
  clipvec watch ~/Pictures                keep them current while the folder changes
  clipvec search "a dog on a beach"       nearest images to a text
  clipvec serve                           HTTP API and search page on http://127.0.0.1:3000/ui
  clipvec config                          the effective settings and where each came from

`clipvec COMMAND --help` shows the options of one command; -v shows library logs and bars.
"""
