"""Shared fixtures: small configs and seeded generators."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from marketenv.config import AgentGroupConfig, Config, SimulationConfig, default_config, load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


@pytest.fixture(autouse=True, scope="session")
def _sb3_logs_in_a_temporary_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """stable-baselines3 makes a log folder for every ``learn``; keep them out of the system temp dir."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SB3_LOGDIR", str(tmp_path_factory.mktemp("sb3-logs")))
    yield
    mp.undo()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def default_cfg() -> Config:
    return default_config()


@pytest.fixture
def small_cfg() -> Config:
    """A quick one-symbol market: 2 makers, 8 noise traders, 1 of each other type."""
    groups = (
        AgentGroupConfig(
            type="market_maker", count=2, initial_cash=1_000_000.0, position_limit=2000
        ),
        AgentGroupConfig(type="noise_trader", count=8),
        AgentGroupConfig(type="momentum", count=1),
        AgentGroupConfig(type="trend_follower", count=1),
        AgentGroupConfig(type="mean_reversion", count=1),
        AgentGroupConfig(type="value_trader", count=1),
        AgentGroupConfig(type="macd_crossover", count=1),
    )
    cfg = dataclasses.replace(
        default_config(), agents=groups, simulation=SimulationConfig(ticks=500, seed=3)
    )
    cfg.validate()
    return cfg


@pytest.fixture
def tiny_cfg() -> Config:
    """Six agents: the cheapest market that trades."""
    groups = (
        AgentGroupConfig(type="market_maker", count=2, initial_cash=1_000_000.0, position_limit=2000),
        AgentGroupConfig(type="noise_trader", count=3),
        AgentGroupConfig(type="value_trader", count=1),
    )
    cfg = dataclasses.replace(default_config(), agents=groups, simulation=SimulationConfig(ticks=200, seed=1))
    cfg.validate()
    return cfg


def without_price_impact(cfg: Config) -> Config:
    """``cfg`` with market makers that do not skew by inventory: flow does not move the price."""
    groups = tuple(
        dataclasses.replace(g, params={**g.params, "inventory_skew": 0.0}) if g.type == "market_maker" else g
        for g in cfg.agents
    )
    out = dataclasses.replace(cfg, agents=groups)
    out.validate()
    return out


@pytest.fixture
def multi_cfg() -> Config:
    return load_config(CONFIGS / "multi_symbol.toml").with_overrides(ticks=400)
