"""The pure-Python order book and market: the reference the compiled engine is held to.

:class:`~marketenv.reference.market.ReferenceMarket` has the same public interface as
:class:`marketenv.market.Market` and the same rules, written for clarity over plain Python
objects. The differential tests (``tests/test_engine_differential.py``) drive both with the
same random order streams and whole runs and require identical trades, cash, positions and
book state. Pass ``market_class=ReferenceMarket`` to :class:`~marketenv.simulation.Simulation`
to run a whole market on it.
"""
