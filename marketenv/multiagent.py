"""The PettingZoo entry points of the market, laid out as PettingZoo's own environments ship.

* :func:`parallel_env` - the native :class:`~marketenv.parallel_env.MarketParallelEnv`
  (K learners among the rule-based crowd);
* :func:`raw_env` - the same game as an AEC env (learners act in turn within a tick, the
  tick runs when the last live learner has acted);
* :func:`env` - :func:`raw_env` with PettingZoo's usual ``AssertOutOfBounds`` and
  ``OrderEnforcing`` wrappers.

Every keyword argument is :class:`~marketenv.parallel_env.MarketParallelEnv`'s. ``state()``
and ``state_space`` are available on all three (the AEC ones pass them through).
"""

from __future__ import annotations

from typing import Any

from pettingzoo import AECEnv
from pettingzoo.utils import conversions, wrappers

from marketenv.parallel_env import MarketParallelEnv, parallel_env

__all__ = ["MarketParallelEnv", "env", "parallel_env", "raw_env"]


def raw_env(**kwargs: Any) -> AECEnv:
    """The market as an AEC env, without wrappers (keyword arguments as ``MarketParallelEnv``)."""
    return conversions.parallel_to_aec(MarketParallelEnv(**kwargs))


def env(**kwargs: Any) -> AECEnv:
    """The market as an AEC env with PettingZoo's standard wrappers."""
    aec = raw_env(**kwargs)
    aec = wrappers.AssertOutOfBoundsWrapper(aec)
    return wrappers.OrderEnforcingWrapper(aec)
