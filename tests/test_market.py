"""The market core: order checks, exact accounting, fundamentals and news."""

from __future__ import annotations

import numpy as np
import pytest

from marketenv.config import (
    AgentGroupConfig,
    Config,
    FundamentalsConfig,
    MarketConfig,
    NewsConfig,
    SymbolConfig,
)
from marketenv.feature_spec import TICKS_PER_YEAR
from marketenv.fundamentals import Fundamentals
from marketenv.market import Market
from marketenv.news import NewsEvent, NewsGenerator
from marketenv.types import Order, OrderKind, OrderStatus

BUY, SELL = 1, -1


def make_market(
    n: int = 3, cash: float = 10_000.0, limit: int = 100, short: bool = True, fee_bps: float = 0.0
) -> Market:
    cfg = Config(
        market=MarketConfig(fee_bps=fee_bps, allow_short=short),
        symbols=(SymbolConfig(name="A", initial_price=50.0),),
        agents=(
            AgentGroupConfig(type="noise_trader", count=n, initial_cash=cash, position_limit=limit),
        ),
    )
    cfg.validate()
    ss = np.random.SeedSequence(0).spawn(3)
    rngs = tuple(np.random.default_rng(s) for s in ss)
    m = Market(cfg, np.zeros(n, dtype=np.int64), rngs)  # type: ignore[arg-type]
    m.start_tick()
    return m


def test_limit_orders_match_and_settle_exactly() -> None:
    m = make_market()
    r1 = m.submit(Order(0, 0, SELL, 10, 5000, OrderKind.LIMIT))
    assert r1.status == OrderStatus.RESTING
    r2 = m.submit(Order(1, 0, BUY, 4, 5001, OrderKind.LIMIT))
    assert r2.status == OrderStatus.FILLED and r2.filled == 4 and r2.notional == 4 * 5000
    assert m.cash[1] == 1_000_000 - 20_000
    assert m.cash[0] == 1_000_000 + 20_000
    assert m.position[1] == 4 and m.position[0] == -4
    assert m.open_quantity(0, 0, SELL) == 6
    m.check_conservation()


def test_fees_are_conserved() -> None:
    m = make_market(fee_bps=1.5)
    m.submit(Order(0, 0, SELL, 10, 5000, OrderKind.LIMIT))
    m.submit(Order(1, 0, BUY, 10, 5000, OrderKind.LIMIT))
    fee = 10 * 5000 * 150 // 1_000_000
    assert fee == 7
    assert m.fees_collected == 2 * fee
    assert m.cash[1] == 1_000_000 - 50_000 - fee
    m.check_conservation()


def test_position_limit_rejects_and_counts_open_orders() -> None:
    m = make_market(limit=10)
    assert m.submit(Order(0, 0, BUY, 8, 4000, OrderKind.LIMIT)).status == OrderStatus.RESTING
    r = m.submit(Order(0, 0, BUY, 3, 4000, OrderKind.LIMIT))
    assert r.status == OrderStatus.REJECTED and "position limit" in r.reason
    assert m.position[0] == 0 and m.open_quantity(0, 0, BUY) == 8  # nothing altered


def test_short_selling_rule() -> None:
    m = make_market(short=False)
    r = m.submit(Order(0, 0, SELL, 1, 5000, OrderKind.LIMIT))
    assert r.status == OrderStatus.REJECTED and "short selling not allowed" in r.reason


def test_insufficient_cash_is_rejected_not_resized() -> None:
    m = make_market(cash=100.0)  # 10,000 cents
    r = m.submit(Order(0, 0, BUY, 3, 5000, OrderKind.LIMIT))
    assert r.status == OrderStatus.REJECTED and "insufficient cash" in r.reason
    assert m.submit(Order(0, 0, BUY, 2, 5000, OrderKind.LIMIT)).status == OrderStatus.RESTING
    # the resting order reserved all the cash
    r = m.submit(Order(0, 0, BUY, 1, 1, OrderKind.LIMIT))
    assert r.status == OrderStatus.REJECTED


def test_market_buy_cost_checked_exactly_against_the_book() -> None:
    m = make_market(cash=100.0)
    m.submit(Order(1, 0, SELL, 1, 4000, OrderKind.LIMIT))
    m.submit(Order(1, 0, SELL, 5, 7000, OrderKind.LIMIT))
    r = m.submit(Order(0, 0, BUY, 2, 0, OrderKind.MARKET))  # 4000 + 7000 > 10000
    assert r.status == OrderStatus.REJECTED
    r = m.submit(Order(0, 0, BUY, 1, 0, OrderKind.MARKET))
    assert r.status == OrderStatus.FILLED and m.cash[0] == 6000


def test_market_order_against_empty_side_is_cancelled() -> None:
    m = make_market()
    r = m.submit(Order(0, 0, BUY, 5, 0, OrderKind.MARKET))
    assert r.status == OrderStatus.CANCELLED and r.filled == 0


def test_self_trade_cancels_resting_and_releases_reservations() -> None:
    m = make_market()
    m.submit(Order(0, 0, BUY, 5, 4900, OrderKind.LIMIT))
    assert m.free_cash(0) == 1_000_000 - 5 * 4900
    r = m.submit(Order(0, 0, SELL, 5, 4900, OrderKind.LIMIT))
    assert r.status == OrderStatus.RESTING and r.filled == 0
    assert m.free_cash(0) == 1_000_000
    assert m.open_quantity(0, 0, BUY) == 0
    assert not any(t.buyer == t.seller for t in m.trades)


def test_cancel_side_releases_everything() -> None:
    m = make_market()
    m.submit(Order(0, 0, BUY, 5, 4900, OrderKind.LIMIT))
    m.submit(Order(0, 0, BUY, 5, 4800, OrderKind.LIMIT))
    assert m.cancel_side(0, 0, BUY) == 10
    assert m.free_cash(0) == m.cash[0]
    assert m.books[0].best_bid() is None


def test_partial_fill_of_resting_buy_reduces_reservation() -> None:
    m = make_market(fee_bps=2.0)
    m.submit(Order(0, 0, BUY, 10, 5000, OrderKind.LIMIT))
    m.submit(Order(1, 0, SELL, 4, 4000, OrderKind.IOC))
    rest = 6 * 5000
    assert m.cash[0] - m.free_cash(0) == rest + rest * 200 // 1_000_000
    m.check_conservation()


def test_mid_spread_carry_forward_when_a_side_empties() -> None:
    m = make_market()
    m.submit(Order(0, 0, BUY, 5, 4990, OrderKind.LIMIT))
    m.submit(Order(1, 0, SELL, 5, 5011, OrderKind.LIMIT))
    m.end_tick()
    assert m.mid_price(0) == pytest.approx(50.005)
    assert m.spread(0) == 21 and m.reference_price(0) == 5000
    m.start_tick()
    m.submit(Order(2, 0, BUY, 5, 0, OrderKind.MARKET))  # empties the ask side
    m.end_tick()
    assert m.mid_price(0) == pytest.approx(50.005) and m.spread(0) == 21


def test_apply_action_replaces_resting_orders_and_reports_rejections() -> None:
    from marketenv.actions import LIMIT, MARKET, apply_action

    m = make_market(limit=10)
    ref = m.reference_price(0)
    out = apply_action(m, 0, 0, np.array([[LIMIT, 5, -3], [LIMIT, 4, 3]]))
    assert (out.placed_buy, out.placed_sell) == (5, 4) and out.reason == ""
    assert m.resting_orders(0, 0) == [(1, 1, ref - 3, 5), (2, -1, ref + 3, 4)]
    # a new buy replaces the resting buy; the sell side is untouched
    apply_action(m, 0, 0, np.array([[LIMIT, 2, -5], [0, 0, 0]]))
    assert [(s, p, q) for _i, s, p, q in m.resting_orders(0, 0)] == [(1, ref - 5, 2), (-1, ref + 3, 4)]
    # re-sending the identical quote keeps the order (and its queue place)
    apply_action(m, 0, 0, np.array([[LIMIT, 2, -5], [0, 0, 0]]))
    assert m.resting_orders(0, 0)[0][0] == 3
    out = apply_action(m, 1, 0, np.array([[MARKET, 50, 0], [0, 0, 0]]))
    assert out.placed_buy == 0 and "position limit" in out.reason


def test_agent_order_is_a_seeded_permutation() -> None:
    a, b = make_market(n=10), make_market(n=10)
    pa, pb = a.agent_order(), b.agent_order()
    assert sorted(pa.tolist()) == list(range(10))
    assert pa.tolist() == pb.tolist()


# ----------------------------------------------------------------- fundamentals
def test_gordon_growth_value_and_fallback() -> None:
    syms = (
        SymbolConfig(name="A", eps=5.0, payout=0.4, growth=0.03, discount_rate=0.08, volatility=0.0),
        SymbolConfig(
            name="B", eps=2.0, payout=0.5, growth=0.10, discount_rate=0.08, fallback_pe=15.0, volatility=0.0
        ),
    )
    f = Fundamentals(syms, np.random.default_rng(0))
    assert f.fair_value[0] == pytest.approx(5.0 * 0.4 * 1.03 / 0.05)
    assert f.fair_value[1] == pytest.approx(30.0)
    f.step(np.zeros(2), np.ones(2))
    assert f.fair_value[0] == pytest.approx(41.2)


def test_diffusion_runs_at_the_configured_annual_volatility_without_clipping() -> None:
    """Log fair-value changes have the configured annual volatility (regime mean square 1),
    no drift in the fair value itself, and nothing bounds the walk."""
    sym = SymbolConfig(name="A", volatility=0.3)
    cfg = FundamentalsConfig(vol_of_vol=0.5, vol_half_life=200)
    f = Fundamentals((sym,), np.random.default_rng(1), cfg)
    n = 200_000
    logs = np.empty(n)
    regimes = np.empty(n)
    for t in range(n):
        logs[t] = np.log(f.step(np.zeros(1), np.ones(1))[0])
        regimes[t] = f.regime
    r = np.diff(logs)
    assert np.std(r) * np.sqrt(TICKS_PER_YEAR) == pytest.approx(0.3, rel=0.05)
    assert np.mean(regimes**2) == pytest.approx(1.0, rel=0.1)
    # the regime is persistent: |r| is autocorrelated at lags well inside the half-life
    a = np.abs(r) - np.abs(r).mean()
    assert np.dot(a[:-50], a[50:]) / np.dot(a, a) > 0.05
    # a martingale in price: the mean 1-tick gross return is 1 (within sampling error)
    gross = np.exp(r) - 1
    assert abs(gross.mean()) < 3 * gross.std() / np.sqrt(gross.size)


def test_attention_scales_the_diffusion() -> None:
    sym = SymbolConfig(name="A", volatility=0.2)
    calm = Fundamentals((sym,), np.random.default_rng(3), FundamentalsConfig(vol_of_vol=0.0))
    busy = Fundamentals((sym,), np.random.default_rng(3), FundamentalsConfig(vol_of_vol=0.0))
    rc = np.diff([np.log(calm.step([0.0], [1.0])[0]) for _ in range(20000)])
    rb = np.diff([np.log(busy.step([0.0], [2.5])[0]) for _ in range(20000)])
    assert np.std(rb) / np.std(rc) == pytest.approx(2.5, rel=1e-6)  # same draws, scaled


def test_jumps_move_the_fair_value_at_once_and_for_good() -> None:
    sym = SymbolConfig(name="A", volatility=0.0)
    f = Fundamentals((sym,), np.random.default_rng(1))
    base = f.fair_value[0]
    f.step([0.01], [1.0])
    assert f.fair_value[0] == pytest.approx(base * np.exp(0.01))
    for _ in range(100):
        f.step([0.0], [1.0])
    assert f.fair_value[0] == pytest.approx(base * np.exp(0.01))


def test_market_factor_correlates_symbols() -> None:
    syms = (SymbolConfig(name="A"), SymbolConfig(name="B"), SymbolConfig(name="C"))
    for share in (0.0, 0.5, 0.9):
        cfg = FundamentalsConfig(vol_of_vol=0.0, factor_share=share)
        f = Fundamentals(syms, np.random.default_rng(4), cfg)
        logs = np.log(np.array([f.step(np.zeros(3), np.ones(3)).copy() for _ in range(20000)]))
        c = np.corrcoef(np.diff(logs, axis=0).T)
        assert c[0, 1] == pytest.approx(share, abs=0.03) and c[1, 2] == pytest.approx(share, abs=0.03)


# ------------------------------------------------------------------------ news
def test_news_jumps_only_at_arrival_and_attention_lasts_the_event() -> None:
    cfg = NewsConfig(rate=0.05, min_duration=3, max_duration=9, impact=0.1, attention=2.0)
    g = NewsGenerator(cfg, 4, np.random.default_rng(5))
    seen = arrivals = 0
    prev: dict[int, NewsEvent | None] = {}
    for _ in range(3000):
        jump = g.step()
        for s in range(4):
            ev = g.active(s)
            if ev is None:
                assert jump[s] == 0.0 and g.attention[s] == 1.0
                continue
            seen += 1
            assert -1 <= ev.sentiment <= 1 and 0 <= ev.magnitude <= 1
            assert 3 <= ev.duration <= 9 and 1 <= ev.ticks_remaining <= ev.duration
            assert g.attention[s] == pytest.approx(1.0 + 2.0 * ev.magnitude)
            if ev.ticks_remaining == ev.duration:  # the arrival tick: the one jump
                arrivals += 1
                assert np.sign(jump[s]) == np.sign(ev.sentiment)  # sentiment sets the direction
            else:
                assert jump[s] == 0.0
                assert ev.ticks_remaining == prev[s].ticks_remaining - 1  # type: ignore[union-attr]
        prev = {s: g.active(s) for s in range(4)}
    assert seen > 100 and arrivals > 50


def test_news_jump_size_is_heavy_tailed_sentiment_times_magnitude() -> None:
    """jump / (impact * sentiment * magnitude) is |Student-t| with ``jump_tail`` dof."""
    cfg = NewsConfig(rate=1.0, min_duration=1, max_duration=1, impact=0.01, jump_tail=3.0)
    g = NewsGenerator(cfg, 1, np.random.default_rng(8))
    t = []
    for _ in range(40000):
        j = g.step()[0]
        ev = g.active(0)
        assert ev is not None and ev.ticks_remaining == ev.duration == 1
        scale = 0.01 * ev.sentiment * ev.magnitude
        if abs(scale) > 1e-4:
            t.append(j / scale)
    t = np.array(t)
    assert t.min() >= 0
    # t(3): P(|T| > 3) = 0.0577, P(|T| > 6) = 0.0091 (normal: 0.0027 and ~0)
    assert np.mean(t > 3) == pytest.approx(0.0577, rel=0.15)
    assert np.mean(t > 6) == pytest.approx(0.0091, rel=0.3)


def test_news_durations_are_pareto_between_the_bounds() -> None:
    cfg = NewsConfig(rate=1.0, min_duration=10, max_duration=1000, duration_tail=1.0)
    g = NewsGenerator(cfg, 1, np.random.default_rng(2))
    durations = []
    for _ in range(200000):
        g.step()
        ev = g.active(0)
        if ev is not None and ev.ticks_remaining == ev.duration:
            durations.append(ev.duration)
    d = np.array(durations)
    assert d.min() >= 10 and d.max() <= 1000
    # P(D >= 100) = (10 / 100) ** 1 for a Pareto of tail index 1
    assert np.mean(d >= 100) == pytest.approx(0.1, rel=0.15)


def test_news_is_reproducible() -> None:
    cfg = NewsConfig(rate=0.02)
    a = NewsGenerator(cfg, 2, np.random.default_rng(9))
    b = NewsGenerator(cfg, 2, np.random.default_rng(9))
    c = NewsGenerator(cfg, 2, np.random.default_rng(10))
    differs = False
    for _ in range(500):
        ea = a.step()
        assert np.array_equal(ea, b.step())
        differs |= not np.array_equal(ea, c.step())
    assert differs  # another seed gives other news


# --------------------------------------------------------------------- pegged orders
def _publish(m: Market, fair_ticks: float) -> None:
    """Make the market publish ``fair_ticks`` as the next fair value (fundamentals stubbed)."""

    def step(jumps: object, attention: object, z: object = None) -> np.ndarray:
        m.fundamentals.fair_value = np.array([fair_ticks / 100.0])
        return m.fundamentals.fair_value

    m.fundamentals.step = step  # type: ignore[method-assign]


def _quotes(m: Market, agent: int) -> dict[int, int]:
    return {side: price for _oid, side, price, _q in m.resting_orders(agent, 0)}


def test_pegged_quotes_follow_the_fair_value_in_half_tick_steps_of_the_mid() -> None:
    m = make_market()
    f0 = float(m.fundamentals.fair_value[0]) * 100
    m.place(0, 0, BUY, 5, 4999, int(OrderKind.LIMIT), pegged=True)
    m.place(0, 0, SELL, 5, 5001, int(OrderKind.LIMIT), pegged=True)
    m.place(1, 0, BUY, 5, 4990, int(OrderKind.LIMIT))  # not pegged: never moves
    steps = [(0.3, {BUY: 4999, SELL: 5002}), (0.8, {BUY: 5000, SELL: 5002}),
             (1.2, {BUY: 5000, SELL: 5002}), (-0.9, {BUY: 4998, SELL: 5000})]  # fmt: skip
    for shift, want in steps:
        _publish(m, f0 + shift)
        m.end_tick()
        m.start_tick()
        assert _quotes(m, 0) == want, shift
        assert _quotes(m, 1) == {BUY: 4990}
        assert m.mid2(0) == want[BUY] + want[SELL]
    assert m.trades == [] and m.open_quantity(0, 0, BUY) == 5 and m.open_quantity(0, 0, SELL) == 5


def test_a_pegged_order_that_crosses_trades_in_the_closing_tick() -> None:
    m = make_market()
    f0 = float(m.fundamentals.fair_value[0]) * 100
    m.place(1, 0, SELL, 3, 5002, int(OrderKind.LIMIT))
    m.place(0, 0, BUY, 5, 5000, int(OrderKind.LIMIT), pegged=True)
    tick = m.tick
    _publish(m, f0 + 3.0)  # the bid moves up 3 ticks, through the resting ask at 5002
    m.end_tick()
    assert [(t.tick, t.price, t.quantity, t.buyer, t.seller) for t in m.trades] == [(tick, 5002, 3, 0, 1)]
    assert m.position[0] == 3 and m.position[1] == -3
    assert _quotes(m, 0) == {BUY: 5003} and m.open_quantity(0, 0, BUY) == 2
    m.check_conservation()


def test_a_pegged_order_that_would_break_a_limit_is_dropped() -> None:
    m = make_market(cash=50.10)  # 5,010 cents: enough for one share at 50.00, not at 50.20
    f0 = float(m.fundamentals.fair_value[0]) * 100
    m.place(0, 0, BUY, 1, 5000, int(OrderKind.LIMIT), pegged=True)
    _publish(m, f0 + 20.0)
    m.end_tick()
    assert m.resting_orders(0, 0) == [] and m.free_cash(0) == m.cash[0] == 5010


def test_acting_orders_are_one_permutation_per_tick_across_blocks() -> None:
    m = make_market(n=10)
    ref = np.random.default_rng()
    ref.bit_generator.state = m._order_rng.bit_generator.state  # a copy of the market's order stream
    ticks = m._draws.BLOCK + 7
    for _ in range(ticks):
        expected = ref.permutation(10)
        assert m.agent_order().tolist() == expected.tolist()
        m.consume_draws(1)


def test_used_up_draw_blocks_refill_in_place_with_the_same_stream() -> None:
    """A used-up block of the same size is drawn into the same arrays (a compiled state
    holding them stays valid), and the numbers are those of one long block."""
    one, blocks = make_market(n=6), make_market(n=6)  # same seed: same streams
    size = blocks._draws.BLOCK
    whole = [a.copy() for a in one.process_draws(3 * size)]
    got = []
    held = None
    for k in range(3):
        if held is not None:
            assert blocks.refill_draws(orders=True) is False, k  # drawn into the same arrays
        orders, opos, bufs, dpos = blocks.draw_block(1)
        arrays = (orders, *bufs)
        if held is not None:
            assert all(a is h for a, h in zip(arrays, held, strict=True)), k
        held = arrays
        assert opos[0] == dpos[0] == 0
        got.append([a.copy() for a in (orders, *bufs)])
        opos[0] = dpos[0] = size  # a compiled caller used the whole block
    for col, want in enumerate(whole):
        assert np.array_equal(np.concatenate([g[col] for g in got]), want), col
    partly = make_market(n=6)  # a block too short for the ticks asked is replaced by a longer one
    orders, _opos, bufs, _dpos = partly.draw_block(1)
    before = (orders, *bufs)
    partly.process_draws(size + 1)
    orders, _opos, bufs, _dpos = partly.draw_block(1)
    assert all(a is not b for a, b in zip((orders, *bufs), before, strict=True))
    assert partly.refill_draws(orders=True) is False  # nothing used up: nothing drawn
