"""One order that trades more often than the trade buffer holds: every trade is kept.

The engine reserves room for an order's trades before matching it (one per live order of
its symbol); these orders each sweep 300 one-share asks into a trade buffer of 4 rows.
"""

from __future__ import annotations

import numpy as np

from marketenv.actions import MARKET
from marketenv.config import AgentGroupConfig, Config, MarketConfig, SymbolConfig
from marketenv.engine import kernels as K
from marketenv.market import Market
from marketenv.types import Order, OrderKind, OrderStatus

SELLERS = 300
PRICE = 5000  # ticks (cents)


def _book_of_asks() -> Market:
    """Agents 0..299 each rest one 1-share ask at the same price; agent 300 is the buyer."""
    cfg = Config(
        market=MarketConfig(allow_short=True),
        symbols=(SymbolConfig(name="A", initial_price=50.0),),
        agents=(AgentGroupConfig(type="noise_trader", count=SELLERS + 1, initial_cash=1e6, position_limit=1000),),
    )
    cfg.validate()
    rngs = tuple(np.random.default_rng(s) for s in np.random.SeedSequence(0).spawn(3))
    m = Market(cfg, np.zeros(SELLERS + 1, dtype=np.int64), rngs)  # type: ignore[arg-type]
    m.start_tick()
    for a in range(SELLERS):
        assert m.submit(Order(a, 0, -1, 1, PRICE, OrderKind.LIMIT)).status == OrderStatus.RESTING
    return m


def _small_buffer(m: Market) -> list[np.ndarray]:
    """The market's engine arrays with a fresh 4-row trade buffer."""
    state = list(m.engine_arrays())
    state[9] = np.zeros((4, 9), dtype=np.int64)
    return state


def _check_sweep(m: Market, buyer_id: int, trades: np.ndarray) -> None:
    m.adopt_trades(trades)
    t = m.trade_array
    assert t.shape[0] == SELLERS
    # price-time priority at one price: the sellers in the order their asks arrived
    assert t[:, 5].tolist() == list(range(SELLERS))  # seller
    assert set(t[:, 4].tolist()) == {buyer_id}  # buyer
    assert set(t[:, 2].tolist()) == {PRICE} and set(t[:, 3].tolist()) == {1}
    assert m.position[buyer_id] == SELLERS
    assert m.position[:SELLERS].tolist() == [-1] * SELLERS
    assert m.cash[buyer_id] == 100_000_000 - SELLERS * PRICE
    m.check_conservation()


def test_one_placed_order_sweeps_more_resting_orders_than_the_buffer_holds() -> None:
    m = _book_of_asks()
    rej = np.zeros(5, dtype=np.int64)
    trades, _oid, status, filled, notional = K.place(
        *_small_buffer(m), SELLERS, 0, 1, SELLERS, 0, K.K_MARKET, False, 0.0, rej
    )
    assert status == OrderStatus.FILLED and filled == SELLERS and notional == SELLERS * PRICE
    _check_sweep(m, SELLERS, trades)


def test_one_executed_action_sweeps_more_resting_orders_than_the_buffer_holds() -> None:
    m = _book_of_asks()
    acts = np.zeros((SELLERS + 1, 6), dtype=np.int64)
    acts[SELLERS, :3] = (MARKET, SELLERS, 0)
    out = np.zeros((SELLERS + 1, 18), dtype=np.int64)
    fair = np.full(1, 5000.0)
    trades, j = K.execute(*_small_buffer(m), acts, np.arange(SELLERS + 1, dtype=np.int64), np.zeros(SELLERS + 1,
                          dtype=np.int64), fair, 0, out)
    assert j == SELLERS + 1 and out[SELLERS, 1] == SELLERS  # O_PLACED_BUY
    _check_sweep(m, SELLERS, trades)
