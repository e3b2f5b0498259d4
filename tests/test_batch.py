"""The batched step (``MarketBatch``, ``LearnerBatch``) against the one-market ``Simulation.step``.

The oracle is :meth:`Simulation.step` with a mapping (the learner's action, the crowd's
policies) and its ``Transition``: a separate driver (``crowd.run_ticks``) and separate
output code (``Transition.fill_info``, ``step_infos``, ``LearnerView``). Runs are long
enough to cross the 512-tick blocks of random numbers and to grow the order pool; one
test starts from a one-row trade buffer so that the kernel's buffer growth runs too.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import marketenv
from marketenv.batch import MarketBatch
from marketenv.config import Config, load_config
from marketenv.engine import pcg
from marketenv.engine.layout import N_TRADE, NEED_SLOTS, S_N_FREE
from marketenv.env import MarketEnv
from marketenv.errors import ConfigError, ResetNeeded
from marketenv.market import Market
from marketenv.simulation import Simulation

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def random_orders(rng: np.random.Generator, n: int, mid_ticks: int = 4000) -> np.ndarray:
    """``(n, 2, 3)`` learner actions: holds, market orders, limit quotes, oversized and far-away orders."""
    acts = np.zeros((n, 2, 3), dtype=np.int64)
    for i in range(n):
        kind = rng.integers(0, 6)
        if kind == 1:  # market buy or sell
            side = rng.integers(0, 2)
            acts[i, side] = (3, rng.integers(1, 200), 0)
        elif kind == 2:  # a two-sided limit quote around the mid
            acts[i, 0] = (1, rng.integers(1, 50), mid_ticks - rng.integers(1, 30))
            acts[i, 1] = (1, rng.integers(1, 50), mid_ticks + rng.integers(1, 30))
        elif kind == 3:  # IOC through the book, sometimes over every limit
            side = rng.integers(0, 2)
            acts[i, side] = (2, rng.integers(1, 5000), mid_ticks + (300 if side == 0 else -300))
        else:  # a one-share bid far below the mid: it rests
            acts[i, 0] = (1, 1, mid_ticks - 200 - rng.integers(0, 50))
    return acts


def warmed(cfg: Config, seed: int, learner: int) -> Simulation:
    sim = Simulation(cfg, seed=seed)
    sim.run(100, hold=(learner,))
    return sim


COMPILED = ["default.toml", "multi_symbol.toml", "standard.toml", "quick.toml", "large.toml"]
"""Every shipped config whose crowd runs compiled (tree_agents.toml has Python-only models)."""


@pytest.mark.parametrize(
    ("config", "parallel", "direct"),
    [(c, False, True) for c in COMPILED] + [(c, True, True) for c in COMPILED[:2]] + [(COMPILED[0], False, False)],
)
def test_batch_equals_simulation_step(config: str, parallel: bool, direct: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """``direct=False``: the kernel may not draw from the generators, Python serves every used-up block."""
    cfg = load_config(CONFIGS / config)
    monkeypatch.setattr(Market, "initial_order_slots", staticmethod(lambda n: 2 * n + 4))  # the pool must grow
    if not direct:
        monkeypatch.setattr(pcg, "direct_addresses", lambda rngs: None)
    learner, n, steps = 0, 3, 1100
    oracle = [Simulation(cfg, seed=11 + b) for b in range(n)]
    batch = MarketBatch(n, [learner], keep_before=True, parallel=parallel)
    sims = [Simulation(cfg, seed=11 + b) for b in range(n)]  # from tick 0: the kernel grows the pools
    sims[1].market._trades = np.zeros((1, N_TRADE), dtype=np.int64)  # the kernel must grow it
    for b, sim in enumerate(sims):
        batch.set(b, sim)
    pool0 = [s.market._pool.shape[0] for s in sims]
    rng = np.random.default_rng(3)
    for t in range(steps):
        mid = int(oracle[0].market.reference_price(0))
        acts = random_orders(rng, n, mid)
        batch.step(acts.reshape(n, 1, 6))
        for b in range(n):
            tr = oracle[b].step({learner: acts[b]})
            f = tr.fills
            assert batch.equity_before[b, 0] == tr.equity_before[learner], (t, b)
            assert batch.equity_after[b, 0] == tr.equity_after[learner], (t, b)
            assert np.array_equal(batch.obs[b, 0], tr.next_obs[learner], equal_nan=True), (t, b)
            expect = [f.buy_quantity[learner], f.sell_quantity[learner], f.buy_cents[learner],
                      f.sell_cents[learner], f.fee_cents[learner]]
            assert batch.fills[b, 0].tolist() == [int(x) for x in expect], (t, b)
            assert np.array_equal(batch.outcomes[b, 0], tr.outcomes.table[learner]), (t, b)
            if t % 97 == 0:  # the whole tick, rebuilt afterwards
                got = batch.transition(b)
                assert got.tick == tr.tick
                assert np.array_equal(got.obs, tr.obs, equal_nan=True)
                assert np.array_equal(got.next_obs, tr.next_obs, equal_nan=True)
                assert np.array_equal(got.actions, tr.actions)
                assert np.array_equal(got.trade_rows, tr.trade_rows)
                assert np.array_equal(got.equity_before, tr.equity_before)
    for b in range(n):
        a, o = sims[b].market, oracle[b].market
        assert a.total_trades == o.total_trades and a.total_volume == o.total_volume
        assert np.array_equal(a.cash, o.cash) and np.array_equal(a.position, o.position)
        assert [bk.depth(50) for bk in a.books] == [bk.depth(50) for bk in o.books]
        assert np.array_equal(sims[b].obs, oracle[b].obs, equal_nan=True)
        assert np.array_equal(sims[b].equity, oracle[b].equity)
    assert sims[1].market._trades.shape[0] > 1
    assert any(s.market._pool.shape[0] > p for s, p in zip(sims, pool0, strict=True)), "the pool never grew"
    for t in range(600):  # Python takes over: every generator goes on where the kernel left it
        acts = random_orders(rng, n, int(oracle[0].market.reference_price(0)))
        for b in range(n):
            got, tr = sims[b].step({learner: acts[b]}), oracle[b].step({learner: acts[b]})
            assert np.array_equal(got.actions, tr.actions), (t, b)
            assert np.array_equal(got.trade_rows, tr.trade_rows), (t, b)
            assert np.array_equal(got.next_obs, tr.next_obs, equal_nan=True), (t, b)


def test_idle_markets_do_not_move(tiny_cfg: Config) -> None:
    batch = MarketBatch(2, [0])
    sims = [warmed(tiny_cfg, s, 0) for s in (1, 2)]
    for b, s in enumerate(sims):
        batch.set(b, s)
    before = sims[1].tick, sims[1].market.total_trades, sims[1].obs.copy()
    acts = np.zeros((2, 1, 6), dtype=np.int64)
    for _ in range(50):
        batch.step(acts, np.array([True, False]))
    assert sims[0].tick == before[0] + 50
    assert (sims[1].tick, sims[1].market.total_trades) == before[:2]
    assert np.array_equal(sims[1].obs, before[2], equal_nan=True)


def test_tree_agent_configs_keep_the_transition_path() -> None:
    env = MarketEnv(CONFIGS / "tree_agents.toml", max_episode_steps=5)
    assert env._lanes is None  # Python-only models: MarketEnv steps through Simulation.step
    env.reset(seed=1)
    assert env.step(2)[4]["tick"] == env.simulation.tick


def test_batch_refuses_missing_markets_and_python_crowds(tiny_cfg: Config) -> None:
    batch = MarketBatch(2, [0])
    batch.set(0, warmed(tiny_cfg, 1, 0))
    with pytest.raises(ResetNeeded, match="1 of 2 markets"):
        batch.step(np.zeros((2, 1, 6), dtype=np.int64))
    with pytest.raises(ConfigError, match="compiled"):
        batch.set(1, Simulation(tiny_cfg, seed=1, reference=True))
    with pytest.raises(ConfigError, match="n_markets"):
        MarketBatch(0, [0])


def transition_path(env: gym.Env) -> gym.Env:
    """``env`` (a ``MarketEnv``, possibly wrapped) stepping through ``Simulation.step`` and its
    ``Transition`` (the envs' other path), the oracle of the batched step."""
    env.unwrapped._lanes = None
    return env


@pytest.mark.parametrize("action_mode", ["discrete", "limit", "order"])
@pytest.mark.parametrize("observation", ["scaled", "raw"])
def test_market_env_batched_equals_transition_path(small_cfg: Config, action_mode: str, observation: str) -> None:
    kw = dict(config=small_cfg, action_mode=action_mode, observation=observation, max_episode_steps=700,
              normalize_reward=True)
    fast = gym.make(marketenv.ENV_ID, **kw)
    slow = transition_path(gym.make(marketenv.ENV_ID, **kw))
    assert fast.unwrapped._lanes is not None
    for env in (fast, slow):
        env.action_space.seed(4)
    a, b = fast.reset(seed=8), slow.reset(seed=8)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]
    for t in range(1500):
        action = fast.action_space.sample()
        slow.action_space.sample()
        x, y = fast.step(action), slow.step(action)
        assert np.array_equal(x[0], y[0], equal_nan=True), t
        assert x[0].dtype == np.float32 and type(x[1]) is float
        assert x[1:4] == y[1:4], t
        assert x[4] == y[4] and [type(v) for v in x[4].values()] == [type(v) for v in y[4].values()], t
        if t % 50 == 0:
            p, q = fast.unwrapped.last_transition, slow.unwrapped.last_transition
            assert p.tick == q.tick and np.array_equal(p.trade_rows, q.trade_rows)
            assert np.array_equal(p.obs, q.obs, equal_nan=True)
            assert fast.unwrapped.last_trades == slow.unwrapped.last_trades
        if x[2] or x[3]:
            a, b = fast.reset(), slow.reset()
            assert np.array_equal(a[0], b[0]) and a[1] == b[1]


def test_simulation_reads_fresh_state_after_a_batch_step(tiny_cfg: Config) -> None:
    sim = warmed(tiny_cfg, 3, 0)
    ref = warmed(tiny_cfg, 3, 0)
    batch = MarketBatch(1, [0])
    batch.set(0, sim)
    for _ in range(20):
        batch.step(np.zeros((1, 1, 6), dtype=np.int64))
        ref.step({0: np.zeros((2, 3), dtype=np.int64)})
    assert np.array_equal(sim.obs, ref.obs, equal_nan=True)
    assert np.array_equal(sim.equity, ref.equity)
    assert sim.last_trades == ref.last_trades
    tr, tr_ref = sim.step(), ref.step()  # and the one-market driver carries on from there
    assert np.array_equal(tr.next_obs, tr_ref.next_obs, equal_nan=True)


def test_market_env_render_and_transitions_on_the_batched_path(tiny_cfg: Config) -> None:
    env = MarketEnv(tiny_cfg, render_mode="ansi", max_episode_steps=30)
    env.reset(seed=2)
    assert env.last_transition is None
    for _ in range(5):
        env.step(2)
    assert "position" in env.render()
    tr = env.last_transition
    assert tr is env.last_transition  # built once per step
    assert tr.tick == env.simulation.tick - 1


def test_a_market_stepped_from_python_between_batch_steps_is_picked_up_again() -> None:
    """Python may step a batch's simulation itself (drawing new blocks, growing buffers);
    the next batch step must go on from there, as one simulation stepped throughout."""
    cfg = load_config(CONFIGS / "default.toml")
    learner = 0
    oracle, sim = Simulation(cfg, seed=4), Simulation(cfg, seed=4)
    batch = MarketBatch(1, [learner])
    batch.set(0, sim)
    rng = np.random.default_rng(8)
    for phase in range(6):  # batch, Python, batch, ...: 300 ticks each, across the 512-tick blocks
        for t in range(300):
            act = random_orders(rng, 1, int(oracle.market.reference_price(0)))[0]
            tr = oracle.step({learner: act})
            if phase % 2 == 0:
                batch.step(act.reshape(1, 1, 6))
                assert batch.equity_after[0, 0] == tr.equity_after[learner], (phase, t)
                assert np.array_equal(batch.outcomes[0, 0], tr.outcomes.table[learner]), (phase, t)
            else:
                got = sim.step({learner: act})
                assert np.array_equal(got.trade_rows, tr.trade_rows), (phase, t)
    assert sim.market.total_trades == oracle.market.total_trades
    assert np.array_equal(sim.obs, oracle.obs, equal_nan=True)


def test_a_market_whose_need_is_never_met_raises_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = MarketBatch(1, [0])
    batch.set(0, Simulation(load_config(CONFIGS / "quick.toml"), seed=1))
    served: list[tuple[int, bool]] = []
    monkeypatch.setattr(batch, "_service", lambda b, need, rebuild=False: served.append((need, rebuild)))
    batch.sims[0].market._sc[S_N_FREE] = 0  # no free order slot, and serving gives none
    with pytest.raises(RuntimeError, match=f"still reports need {NEED_SLOTS} after its state was rebuilt"):
        batch.step(np.zeros((1, 1, 6), dtype=np.int64))
    assert served == [(NEED_SLOTS, False), (NEED_SLOTS, True)]
