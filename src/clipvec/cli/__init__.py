"""The ``clipvec`` command line (also ``python -m clipvec`` and the original scripts).

:mod:`.parser` builds the parser, :mod:`.main` dispatches; each command lives in its own
``*_cmd`` module with its printing and exit codes.
"""

from clipvec.cli.main import main
from clipvec.cli.parser import build_parser

__all__ = ["build_parser", "main"]
