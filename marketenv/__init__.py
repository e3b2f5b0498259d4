"""marketenv: a simulated multi-agent stock market.

Importing the package registers the Gymnasium environments ``marketenv/Market-v0`` and
``marketenv/Execution-v0``.

Public API:

* :class:`MarketEnv` (Gymnasium, one learner vs the crowd), :func:`parallel_env`
  (PettingZoo ``ParallelEnv``, K learners among the crowd; AEC versions in
  :mod:`marketenv.multiagent`) and :class:`marketenv.execution.ExecutionEnv`;
* :class:`Simulation` (the tick loop), :class:`Market` (the pure core),
  :func:`load_config` / :class:`Config`;
* :data:`FEATURE_NAMES` (the ComprehensiveFeatures, see :mod:`marketenv.feature_spec`).
"""

from __future__ import annotations

from marketenv import _startup

_startup.install()  # before the slow imports: a Ctrl-C while the command starts is one line

import gymnasium as _gym  # noqa: E402

__version__ = "0.1.0"

from marketenv.config import Config, load_config  # noqa: E402
from marketenv.errors import (  # noqa: E402
    ConfigError,
    InvalidActionError,
    InvalidOrderError,
    MarketEnvError,
    ModelFormatError,
    RecordingError,
    ResetNeeded,
)
from marketenv.feature_spec import FEATURE_NAMES  # noqa: E402

ENV_ID = "marketenv/Market-v0"

if ENV_ID not in _gym.registry:
    # The spec shows the default scenario's episode length (the env truncates itself at
    # its config's ticks too).
    from marketenv.config import default_config as _default_config  # noqa: E402

    _gym.register(
        id=ENV_ID,
        entry_point="marketenv.env:MarketEnv",
        vector_entry_point="marketenv.vector_env:MarketVectorEnv",
        max_episode_steps=_default_config().simulation.ticks,
    )
EXECUTION_ENV_ID = "marketenv/Execution-v0"
if EXECUTION_ENV_ID not in _gym.registry:
    # No TimeLimit: the horizon ends an execution episode by termination (see ExecutionEnv).
    _gym.register(id=EXECUTION_ENV_ID, entry_point="marketenv.execution:ExecutionEnv")


# Imported after the registrations. Binding the function ``parallel_env`` here, after its
# submodule of the same name is loaded, keeps ``marketenv.parallel_env`` callable; it loads
# the env, simulation and market modules too.
from marketenv.env import MarketEnv  # noqa: E402
from marketenv.market import Market  # noqa: E402
from marketenv.parallel_env import MarketParallelEnv, parallel_env  # noqa: E402
from marketenv.simulation import Simulation  # noqa: E402

__all__ = [
    "ENV_ID",
    "EXECUTION_ENV_ID",
    "FEATURE_NAMES",
    "Config",
    "ConfigError",
    "InvalidActionError",
    "InvalidOrderError",
    "Market",
    "MarketEnv",
    "MarketEnvError",
    "MarketParallelEnv",
    "ModelFormatError",
    "RecordingError",
    "ResetNeeded",
    "Simulation",
    "load_config",
    "parallel_env",
]
