"""The pure-Python order book and market: the reference the compiled engine is held to.

:class:`~marketenv.reference.market.ReferenceMarket` has the same public interface as
:class:`marketenv.market.Market` and the same rules, written for clarity over plain Python
objects. The differential tests (``tests/test_engine_differential.py``) drive both with the
same random order streams and whole runs and require identical trades, cash, positions and
book state. ``Simulation(config, reference=True)`` runs a whole market on the reference
(this market and :class:`~marketenv.reference.features.ReferenceMarketFeatures`).
"""
