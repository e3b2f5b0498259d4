#!/usr/bin/env python3
"""Train a random forest on feature recordings and export it as a JSON tree model.

A thin wrapper around :func:`agents.training.main` (also available as ``marketenv train``)::

    python scripts/export_rf.py data/training.parquet --out models/rf.json
    python scripts/export_rf.py run1.parquet run2.parquet --split file --label forward \\
        --horizon 10 --dead-zone 2 --agents MarketMaker --exclude-agent-state --out mm.json

Run with ``--help`` for every flag; ``docs/model_format.md`` describes the output.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from agents.training import main
except ModuleNotFoundError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from agents.training import main

if __name__ == "__main__":
    sys.exit(main(prog="export_rf.py"))
