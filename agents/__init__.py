"""Rule-based and model-driven trading agents (policies)."""
