"""Config loading and validation: every bad input is a one-line ConfigError naming the key."""

from __future__ import annotations

import pytest

from marketenv.config import config_from_dict, default_config, load_config
from marketenv.errors import ConfigError
from tests.conftest import CONFIGS


def test_default_toml_equals_builtin_default() -> None:
    assert load_config(CONFIGS / "default.toml") == default_config()


def test_default_scenario_has_50_agents_on_one_symbol() -> None:
    cfg = default_config()
    assert cfg.n_agents == 50
    assert len(cfg.symbols) == 1
    assert cfg.simulation.ticks == 10_000
    assert {g.type for g in cfg.agents} >= {
        "market_maker",
        "noise_trader",
        "momentum",
        "trend_follower",
        "mean_reversion",
        "value_trader",
        "macd_crossover",
    }


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.toml")))
def test_every_shipped_config_loads(name: str) -> None:
    cfg = load_config(CONFIGS / name)
    assert cfg.n_agents >= 1


def base() -> dict:
    return {
        "simulation": {"ticks": 100, "seed": 1},
        "symbols": [{"name": "ACME"}],
        "agents": [{"type": "noise_trader", "count": 3}],
    }


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d["simulation"].update(tickz=5), "simulation.tickz"),
        (lambda d: d.update(extra=1), "unknown key extra"),
        (lambda d: d["simulation"].update(ticks="many"), "simulation.ticks must be an integer"),
        (lambda d: d["simulation"].update(ticks=0), "simulation.ticks must be >= 1"),
        (lambda d: d["agents"][0].update(count=0), "agents[0].count must be >= 1"),
        (lambda d: d["agents"][0].update(initial_cash=-5.0), "agents[0].initial_cash must be >= 0"),
        (lambda d: d["agents"][0].update(initial_cash=10.001), "whole number of cents"),
        (lambda d: d["agents"][0].update(type="wizard"), "agents[0].type 'wizard' is unknown"),
        (lambda d: d["agents"][0].update(symbol="ZZZ"), "agents[0].symbol 'ZZZ'"),
        (lambda d: d["agents"][0].update(params={"activity": 2.0}), "agents[0].params.activity"),
        (lambda d: d["agents"][0].update(params={"speed": 1}), "agents[0].params.speed"),
        (lambda d: d.update(agents=[]), "at least one [[agents]]"),
        (lambda d: d["symbols"][0].update(discount_rate=0.02, growth=0.03), "set fallback_pe"),
        (lambda d: d["symbols"][0].update(payout=0.0), "symbols[0].payout"),
        (lambda d: d["symbols"].append({"name": "ACME"}), "duplicate name 'ACME'"),
        (
            lambda d: (
                d["market"].update(fee_bps=0.001)
                if "market" in d
                else d.update(market={"fee_bps": 0.001})
            ),
            "multiple of 0.01",
        ),
        (lambda d: d["simulation"].update(ticks=True), "simulation.ticks must be an integer"),
        (
            lambda d: d["news"].update(rate=2) if "news" in d else d.update(news={"rate": 2.0}),
            "news.rate",
        ),
    ],
)
def test_bad_configs_name_the_key(mutate, needle: str) -> None:
    d = base()
    mutate(d)
    with pytest.raises(ConfigError) as exc:
        config_from_dict(d)
    msg = str(exc.value)
    assert needle in msg
    assert "\n" not in msg


def test_fallback_pe_makes_r_le_g_valid() -> None:
    d = base()
    d["symbols"][0].update(discount_rate=0.02, growth=0.03, fallback_pe=20.0, eps=2.0)
    cfg = config_from_dict(d)
    assert cfg.symbols[0].base_fair_value() == pytest.approx(40.0)


def test_missing_file_and_bad_toml(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[simulation\nticks=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_file_errors_are_prefixed_with_the_path(tmp_path) -> None:
    f = tmp_path / "c.toml"
    f.write_text(
        '[simulation]\nticks = -3\n[[symbols]]\nname="A"\n[[agents]]\ntype="noise_trader"\n'
    )
    with pytest.raises(ConfigError, match=r"c\.toml: simulation\.ticks must be >= 1 \(got -3\)"):
        load_config(f)


def test_config_is_frozen() -> None:
    cfg = default_config()
    with pytest.raises(AttributeError):
        cfg.simulation.ticks = 5  # type: ignore[misc]


def test_overrides() -> None:
    cfg = default_config().with_overrides(ticks=7, seed=9)
    assert (cfg.simulation.ticks, cfg.simulation.seed) == (7, 9)
    with pytest.raises(ConfigError):
        default_config().with_overrides(ticks=0)
