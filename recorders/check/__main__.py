"""``python -m recorders.check FILE``."""

import sys

from recorders.check.cli import main

sys.exit(main())
