"""Rule-based and model-driven trading agents (policies), found by the core through :mod:`marketenv.registry`."""
