"""Allow `python -m clipvec`."""

from clipvec.cli import main

raise SystemExit(main())
