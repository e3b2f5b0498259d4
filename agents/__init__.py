"""Rule-based and model-driven trading agents (policies)."""

import marketenv  # noqa: F401  (loads the market package first: avoids an import cycle)
