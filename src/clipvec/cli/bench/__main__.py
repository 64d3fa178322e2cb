"""``python -m clipvec.cli.bench``: the benchmark on its own (as ``clipvec bench``)."""

from clipvec.cli.bench import main

raise SystemExit(main())
