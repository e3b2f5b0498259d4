"""The compiled market engine: array order books, matching and exact accounts in numba.

:mod:`~marketenv.engine.layout` names the columns of the state arrays,
:mod:`~marketenv.engine.kernels` holds the kernels; :class:`marketenv.market.Market` owns
the arrays and is the Python interface.
"""
