"""``python -m marketenv``: the command line."""

from marketenv.cli import main

raise SystemExit(main())
