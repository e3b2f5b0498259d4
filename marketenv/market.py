"""The market core: order books, clock, exact accounts, fundamentals and news.

The books and accounts live in the compiled engine (:mod:`marketenv.engine`: preallocated
integer arrays and numba kernels, no Python object per order); :class:`Market` is its
Python face. :class:`marketenv.reference.market.ReferenceMarket` implements the same
rules in plain Python and is the oracle of the differential tests.

:class:`Market` is pure: it takes orders and returns fills and state. It knows agents only
as integer slots with accounts; it holds no reference to policies or environments.

Tick lifecycle (driven by :class:`marketenv.simulation.Simulation` or an env):

1. :meth:`Market.start_tick` advances the clock. The books are not touched, so the
   state "after tick t-1" is the state "at the start of tick t".
2. Agents act in :meth:`Market.agent_order` (a fresh seeded random permutation every
   tick: a fair rule, no agent is always first). Each order is checked against the
   agent's limits and matched immediately (continuous double auction).
3. :meth:`Market.end_tick` closes the tick: it publishes the next tick's news and fair
   values (the fair value at tick 0 is the config's initial value), moves **pegged**
   orders with them (see below; their trades belong to the closing tick), and sets the
   per-symbol statistics (trades, volume, bar high/low) and the reference prices for the
   next tick.

Accounting (exact integers): cash in cents, positions in shares. For a trade of ``q``
shares at ``p`` ticks, notional ``n = p*q`` cents and ``fee = floor(n * fee_bps / 10000)``
per side; the buyer pays ``n + fee``, the seller receives ``n - fee``, the exchange keeps
``2 * fee``. Hence, at every moment, ``sum(cash) + fees_collected`` equals the initial
total cash and, per symbol, ``sum(position)`` equals the initial total position.

Order checks (a failing order is rejected, never altered; the reason is returned):

* quantity in ``[1, max_order_quantity]``, limit price ``>= 1`` tick;
* position limit: ``position + open buys + quantity <= position_limit`` for buys and
  ``position - open sells - quantity >= -position_limit`` (``>= 0`` without shorting);
* cash: a buy needs free cash (cash minus what its resting buys have reserved) for what
  it would pay: the exact cost of the part that fills now (skipping its own resting orders)
  plus, for a resting remainder, ``remainder * price`` plus fees. Every order also needs
  free cash for its own fees.

Pegged orders (the exchange's fair-value peg, how market makers price public information
the moment it is published): a resting limit order placed with ``pegged=True`` remembers
the fair value ``F0`` (in ticks) at placement. At every :meth:`end_tick`, once the next
fair value ``F`` is published, each pegged order whose ``k = round(F - F0 - side / 4)`` is not 0
(``side`` +1 for bids, -1 for asks) is re-placed ``k`` ticks away (losing its queue place,
with ``F0 += k``), orders moving away from the other side of the book first. The quarter
tick lets a quote pair follow the fair value in half-tick steps of the mid: a rise of
0.3 ticks moves the ask up one tick and leaves the bid. A re-placed order passes the same checks as a new
one (if it fails it is dropped) and may trade on arrival; those trades belong to the
closing tick.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from marketenv.actions import OutcomeArray
from marketenv.config import Config
from marketenv.engine import kernels as K
from marketenv.engine import layout as L
from marketenv.errors import InvalidOrderError
from marketenv.fundamentals import Fundamentals
from marketenv.news import NewsEvent, NewsGenerator
from marketenv.types import TICKS_PER_UNIT, Order, OrderKind, OrderResult, OrderStatus, Trade

__all__ = ["Book", "Market", "TickStats", "rejection_reason"]

_REJ = int(OrderStatus.REJECTED)
_KINDS = (int(OrderKind.LIMIT), int(OrderKind.IOC), int(OrderKind.MARKET))


class TickStats(NamedTuple):
    """Per-symbol statistics of a finished tick (arrays of length ``n_symbols``)."""

    tick: int
    trades: np.ndarray
    volume: np.ndarray
    high: np.ndarray
    low: np.ndarray


def rejection_reason(code: int, v: Sequence[int]) -> str:
    """The human-readable reason of a rejection code and its four values."""
    if code == L.R_QTY_LOW:
        return f"quantity {v[0]} must be >= 1"
    if code == L.R_QTY_HIGH:
        return f"quantity {v[0]} exceeds max_order_quantity {v[1]}"
    if code == L.R_PRICE:
        return f"limit price {v[0]} ticks must be >= 1"
    if code == L.R_LIMIT_BUY:
        return f"position limit: position {v[0]} + open buys {v[1]} + {v[2]} > {v[3]}"
    if code in (L.R_LIMIT_SELL, L.R_NO_SHORT):
        what = "position limit" if code == L.R_LIMIT_SELL else "short selling not allowed"
        return f"{what}: position {v[0]} - open sells {v[1]} - {v[2]} < {v[3]}"
    if code == L.R_CASH:
        return f"insufficient cash: needs {v[0]} cents, {v[1]} free"
    return ""


class Book:
    """Read-only view of one symbol's order book in the engine.

    Attributes:
        symbol: The symbol index.
    """

    def __init__(self, market: Market, symbol: int) -> None:
        self._m = market
        self.symbol = symbol

    def _best(self, si: int) -> int | None:
        m = self._m
        n = m._n_levels[self.symbol, si]
        return None if n == 0 else int(m._levels[self.symbol, si, n - 1, L.L_PRICE])

    def best_bid(self) -> int | None:
        """Highest bid price in ticks, or ``None`` if there are no bids."""
        return self._best(0)

    def best_ask(self) -> int | None:
        """Lowest ask price in ticks, or ``None`` if there are no asks."""
        return self._best(1)

    def _best_qty(self, si: int) -> int:
        m = self._m
        n = m._n_levels[self.symbol, si]
        return 0 if n == 0 else int(m._levels[self.symbol, si, n - 1, L.L_QTY])

    def best_bid_qty(self) -> int:
        """Aggregate quantity at the best bid (0 if there are no bids)."""
        return self._best_qty(0)

    def best_ask_qty(self) -> int:
        """Aggregate quantity at the best ask (0 if there are no asks)."""
        return self._best_qty(1)

    def depth(self, levels: int = 5) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """``(bids, asks)``: up to ``levels`` ``(price, quantity)`` per side, best first."""
        if levels < 1:
            return [], []
        m = self._m
        out = []
        for si in (0, 1):
            n = int(m._n_levels[self.symbol, si])
            rows = m._levels[self.symbol, si, max(0, n - levels) : n][::-1]
            out.append([(int(p), int(q)) for p, q in rows[:, [L.L_PRICE, L.L_QTY]].tolist()])
        return out[0], out[1]

    def sweep(self, side: int, quantity: int, limit_price: int | None, agent: int) -> tuple[int, int]:
        """``(filled_qty, notional)`` an order would get on arrival now (the book is unchanged).

        The agent's own resting orders are skipped: the self-trade rule would cancel them.
        """
        if quantity < 1:
            raise InvalidOrderError(f"order quantity must be >= 1 share, got {quantity!r}")
        if side not in (1, -1):
            raise InvalidOrderError(f"order side must be +1 (buy) or -1 (sell), got {side!r}")
        m = self._m
        f, n = K.sweep(m._pool, m._levels, m._n_levels, self.symbol, side, quantity,
                       limit_price is not None, 0 if limit_price is None else limit_price, agent)
        return int(f), int(n)

    def order_info(self, order_id: int) -> tuple[int, int, int, int] | None:
        """``(agent, side, price, remaining_qty)`` of a live resting order, else ``None``."""
        slot = self._m._slot_of(order_id)
        if slot < 0 or self._m._pool[slot, L.P_SYMBOL] != self.symbol:
            return None
        r = self._m._pool[slot]
        return int(r[L.P_AGENT]), int(r[L.P_SIDE]), int(r[L.P_PRICE]), int(r[L.P_QTY])

    def resting_quantity(self, side: int) -> int:
        """Total resting quantity of one side: ``BUY`` (+1) bids, ``SELL`` (-1) asks."""
        if side not in (1, -1):
            raise InvalidOrderError(f"side must be +1 (buy) or -1 (sell), got {side!r}")
        return int(self._m._sym[self.symbol, L.Y_BID_TOTAL if side > 0 else L.Y_ASK_TOTAL])

    def __len__(self) -> int:
        """Number of live resting orders."""
        return int(self._m._sym[self.symbol, L.Y_ORDERS])

    def __repr__(self) -> str:
        return f"Book(symbol={self.symbol}, orders={len(self)}, best_bid={self.best_bid()}, best_ask={self.best_ask()})"


class _Draws:
    """The processes' random numbers, drawn ahead in blocks of ticks.

    Row ``i`` of each buffer belongs to the ``i``-th tick from now: the acting order
    (``Generator.permuted`` over rows gives the same permutations as one ``permutation``
    call per tick), the fundamentals' normals and the news draws (each tick's uniforms,
    then its Student-t draws). The acting orders come from their own generator and have
    their own block and position, so a compiled caller may draw them itself once their
    block is used up. Block sizes therefore never change a run.
    """

    BLOCK = 512

    def __init__(self, market: Market) -> None:
        self._m = market
        n, S = market.n_agents, market.n_symbols
        self._orders = np.empty((0, n), dtype=np.int64)
        self._bufs = (np.empty((0, S + 2)), np.empty((0, 4 * S)), np.empty((0, S)))
        self.order_position = np.zeros(1, dtype=np.int64)
        """``[k]``: row ``k`` of :attr:`orders` is the next tick's (compiled callers may advance it)."""
        self.position = np.zeros(1, dtype=np.int64)
        """``[k]``: row ``k`` of :attr:`buffers` is the next tick's (compiled callers may advance it)."""

    @property
    def orders(self) -> np.ndarray:
        """The current block of acting orders ``(ticks, n_agents)``."""
        return self._orders

    @property
    def buffers(self) -> tuple[np.ndarray, ...]:
        """The current block of the processes: fundamentals normals, news uniforms, news Student-t."""
        return self._bufs

    def peek(self, ticks: int) -> tuple[np.ndarray, ...]:
        """The next ``ticks`` ticks' rows ``(orders, *buffers)`` (drawing new blocks first where fewer are left)."""
        self.refill(ticks)
        k, j = int(self.position[0]), int(self.order_position[0])
        return (self._orders[j : j + ticks], *(b[k : k + ticks] for b in self._bufs))

    def refill(self, ticks: int, orders: bool = True) -> bool:
        """Draw new blocks where fewer than ``ticks`` rows are left (the acting orders only if
        ``orders``); whether any block is a new array.

        A used-up block of the same size is drawn into the same arrays, so that a compiled
        caller holding them need not rebuild its state (views a caller took of the old
        rows, with :meth:`peek`, then show the new ones).
        """
        replaced = False
        m = self._m
        j = int(self.order_position[0])
        left = self._orders.shape[0] - j
        if orders and left < ticks:
            size = max(self.BLOCK, ticks - left)
            n = m.n_agents
            same = left == 0 and size == self._orders.shape[0]
            perms = self._orders if same else np.empty((size, n), dtype=np.int64)
            perms[:] = np.arange(n, dtype=np.int64)
            m._order_rng.permuted(perms, axis=1, out=perms)
            replaced = not same
            self._orders = np.concatenate((self._orders[j:], perms)) if left else perms
            self.order_position[0] = 0
        k = int(self.position[0])
        left = self._bufs[0].shape[0] - k
        if left < ticks:
            size = max(self.BLOCK, ticks - left)
            z = m.fundamentals.draw(size)
            u, t = m.news.draw(size)
            new = (z, u, t)
            if left == 0 and size == self._bufs[0].shape[0]:
                for b, d in zip(self._bufs, new, strict=True):
                    b[...] = d
            else:
                replaced = True
                self._bufs = tuple(np.concatenate((b[k:], d)) for b, d in zip(self._bufs, new, strict=True)) if left else new
            self.position[0] = 0
        return replaced

    def consume(self, ticks: int) -> None:
        """Mark ``ticks`` rows as used."""
        self.position[0] += ticks
        self.order_position[0] += ticks


class Market:
    """Books, accounts and fundamentals of a whole market.

    Args:
        config: The validated scenario.
        agent_symbols: For each agent slot, the symbol index it trades (used for initial
            positions and by :meth:`execute`); length = number of agents.
        rngs: Three generators: agent ordering, fundamentals, news (spawned by the
            caller from one ``SeedSequence``).
    """

    def __init__(
        self,
        config: Config,
        agent_symbols: np.ndarray,
        rngs: tuple[np.random.Generator, np.random.Generator, np.random.Generator],
    ) -> None:
        self.config = config
        S = self.n_symbols = len(config.symbols)
        self.symbol_names = tuple(s.name for s in config.symbols)
        n = self.n_agents = len(agent_symbols)
        self._agent_symbols = np.ascontiguousarray(agent_symbols, dtype=np.int64)
        self._order_rng, fund_rng, news_rng = rngs
        self.fundamentals = Fundamentals(config.symbols, fund_rng, config.fundamentals)
        self.news = NewsGenerator(config.news, S, news_rng)
        mk = config.market

        self._agent = np.zeros((n, L.N_AGENT), dtype=np.int64)
        self._acct = np.zeros((n * S, L.N_ACCT), dtype=np.int64)
        self._acct[:, [L.A_HEAD_BUY, L.A_HEAD_BUY + 1]] = -1
        i = 0
        for g in config.agents:
            for _ in range(g.count):
                if i < n:
                    self._agent[i, L.G_CASH] = g.initial_cash_cents
                    self._agent[i, L.G_LIMIT] = g.position_limit
                    self._acct[i * S + int(agent_symbols[i]), L.A_POS] = g.initial_position
                i += 1
        if i != n:
            raise InvalidOrderError(f"agent_symbols has {n} entries but the config has {i} agents")
        self.initial_cash = self._agent[:, L.G_CASH].copy()
        """Initial cash per agent, cents."""
        self.initial_position = self._acct[:, L.A_POS].copy()
        """Initial positions, flat like :attr:`position`."""

        cap = self.initial_order_slots(n)
        self._pool = np.zeros((cap, L.N_POOL), dtype=np.int64)
        self._pool[:, L.P_ID] = -1
        self._anchor = np.zeros(cap)
        self._free = np.arange(cap - 1, -1, -1, dtype=np.int64)  # a stack: slot 0 is used first
        self._levels = np.zeros((S, 2, cap, L.N_LEVEL), dtype=np.int64)
        self._n_levels = np.zeros((S, 2), dtype=np.int64)
        self._trades = np.zeros((256, L.N_TRADE), dtype=np.int64)
        self._out = np.zeros((n, L.N_OUTCOME), dtype=np.int64)
        self._rej = np.zeros(5, dtype=np.int64)

        sc = self._sc = np.zeros(L.N_SCALARS, dtype=np.int64)
        sc[L.S_TICK] = -1
        sc[L.S_NEXT_ID] = 1
        sc[L.S_FEE_RATE] = mk.fee_centibps
        sc[L.S_ALLOW_SHORT] = int(bool(mk.allow_short))
        sc[L.S_MAX_QTY] = mk.max_order_quantity
        sc[L.S_N_SYMBOLS] = S
        sc[L.S_N_FREE] = cap

        fv = self.fundamentals.fair_value_ticks()
        sym = self._sym = np.zeros((S, L.N_SYM), dtype=np.int64)
        sym[:, [L.Y_PEG_HEAD, L.Y_PEG_TAIL]] = -1
        for k, s in enumerate(config.symbols):
            ref = round(s.initial_price * TICKS_PER_UNIT) if s.initial_price is not None else int(fv[k])
            ref = max(1, ref)
            sym[k, L.Y_REF] = ref
            sym[k, L.Y_MID2] = 2 * ref
            sym[k, L.Y_HIGH] = ref
            sym[k, L.Y_LOW] = ref
        self.books = [Book(self, s) for s in range(S)]
        """One read-only :class:`Book` view per symbol."""
        self._draws = _Draws(self)

    @staticmethod
    def initial_order_slots(n_agents: int) -> int:
        """Order slots a new market preallocates (the pool doubles when it runs low)."""
        return max(64, 4 * n_agents)

    # ----------------------------------------------------------------- engine plumbing
    def _state(self) -> tuple[np.ndarray, ...]:
        return (self._pool, self._anchor, self._levels, self._n_levels, self._sym, self._acct,
                self._agent, self._free, self._sc, self._trades)

    def engine_arrays(self) -> tuple[np.ndarray, ...]:
        """The engine's state arrays, in the argument order of :mod:`marketenv.engine.kernels`.

        For compiled callers that run the kernels themselves; they must hand a reallocated
        trade buffer back with :meth:`adopt_trades`.
        """
        return self._state()

    def process_draws(self, ticks: int) -> tuple[np.ndarray, ...]:
        """The random draws of the next ``ticks`` ticks' processes, for compiled callers.

        Returns views ``(acting orders (ticks, n_agents), fundamentals normals (ticks,
        n_symbols + 2), news uniforms (ticks, 4 n_symbols), news Student-t draws (ticks,
        n_symbols))``: the numbers :meth:`agent_order` and :meth:`end_tick` use over those
        ticks. Call :meth:`consume_draws` with the number of ticks actually run.
        """
        return self._draws.peek(ticks)

    def consume_draws(self, ticks: int) -> None:
        """Mark ``ticks`` ticks of :meth:`process_draws` as used."""
        self._draws.consume(ticks)

    def draw_block(self, ticks: int = 1, orders: bool = True) -> tuple[np.ndarray, np.ndarray,
                                                                      tuple[np.ndarray, ...], np.ndarray]:
        """The current blocks of random draws and their positions, for compiled callers.

        Returns ``(acting orders, their position, (fundamentals normals, news uniforms,
        news Student-t), its position)``, with at least ``ticks`` rows left in each (in the
        acting orders only if ``orders``: a caller that draws them itself once their block
        is used up, with :mod:`marketenv.engine.pcg` from :attr:`order_generator`, passes
        ``False``). The next tick uses row ``position[0]`` of each, and the caller advances
        the positions per tick. The arrays change when a new block is drawn.
        """
        d = self._draws
        d.refill(ticks, orders)
        return d.orders, d.order_position, d.buffers, d.position

    def refill_draws(self, orders: bool) -> bool:
        """Draw the used-up blocks as :meth:`draw_block` does (the acting orders only if
        ``orders``); whether any block is a new array (else a compiled caller's views of
        them stay valid)."""
        return self._draws.refill(1, orders)

    @property
    def order_generator(self) -> np.random.Generator:
        """The generator of the acting orders (one ``permutation(n_agents)`` per tick)."""
        return self._order_rng

    def process_state(self) -> tuple[np.ndarray, ...]:
        """``(fundamentals scalars, fundamentals per symbol, news parameters, news floats,
        news counts)``: the processes' state arrays, for compiled callers."""
        f, nw = self.fundamentals, self.news
        return (f.state, f.symbol_state, nw.params, nw.state, nw.counts)

    def adopt_trades(self, trades: np.ndarray) -> None:
        """Take the (possibly reallocated) trade buffer back from a compiled caller."""
        self._trades = trades

    def reserve_orders(self, slots: int) -> None:
        """Grow the order pool until at least ``slots`` slots are free."""
        while self._sc[L.S_N_FREE] < slots:
            self._grow_pool()

    def _grow_pool(self) -> None:
        """Double the order capacity (slots, levels); live orders keep their slots."""
        cap = self._pool.shape[0]
        pool = np.zeros((2 * cap, L.N_POOL), dtype=np.int64)
        pool[:cap] = self._pool
        pool[cap:, L.P_ID] = -1
        anchor = np.zeros(2 * cap)
        anchor[:cap] = self._anchor
        nf = int(self._sc[L.S_N_FREE])
        free = np.empty(2 * cap, dtype=np.int64)
        free[: cap] = np.arange(2 * cap - 1, cap - 1, -1)
        free[cap : cap + nf] = self._free[:nf]
        levels = np.zeros((self.n_symbols, 2, 2 * cap, L.N_LEVEL), dtype=np.int64)
        levels[:, :, :cap] = self._levels
        self._pool, self._anchor, self._free, self._levels = pool, anchor, free, levels
        self._sc[L.S_N_FREE] = nf + cap

    def _slot_of(self, order_id: int) -> int:
        if order_id < 1:
            return -1
        hit = np.flatnonzero(self._pool[:, L.P_ID] == order_id)
        return int(hit[0]) if hit.size else -1

    # ----------------------------------------------------------------- clock
    @property
    def tick(self) -> int:
        """The current tick (-1 before the first :meth:`start_tick`)."""
        return int(self._sc[L.S_TICK])

    def start_tick(self) -> int:
        """Advance the clock to the next tick and start its statistics. Returns the new tick.

        The tick's fair values and news were already published at the end of the previous
        tick (:meth:`end_tick`), so the state at the start of tick ``t`` is exactly the
        state after tick ``t - 1``.
        """
        K.start_tick(self._sym, self._sc)
        return int(self._sc[L.S_TICK])

    def agent_order(self) -> np.ndarray:
        """This tick's seeded random permutation of agent slots (the acting order)."""
        return self._draws.peek(1)[0][0].copy()

    def execute(self, actions: np.ndarray, order: np.ndarray) -> OutcomeArray:
        """Execute flat ``(n_agents, 6)`` order actions agent by agent in ``order``.

        The rules of :func:`marketenv.actions.apply_action`, for every agent at once in the
        compiled engine. Returns every agent's outcome (a fresh :class:`OutcomeArray`).
        """
        acts = np.ascontiguousarray(actions, dtype=np.int64).reshape(self.n_agents, 6)
        order = np.ascontiguousarray(order, dtype=np.int64)
        out = np.zeros((self.n_agents, L.N_OUTCOME), dtype=np.int64)
        out[:, [L.O_STATUS_BUY, L.O_STATUS_SELL]] = -1
        fair = self.fundamentals.fair_value * TICKS_PER_UNIT
        j = 0
        while True:
            self._trades, j = K.execute(*self._state(), acts, order, self._agent_symbols, fair, j, out)
            if j >= len(order):
                break
            self._grow_pool()
        return OutcomeArray(out, rejection_reason)

    def end_tick(self) -> TickStats:
        """Close the tick and return its per-symbol statistics.

        In order: publish the next tick's news and fair values (:mod:`marketenv.news`,
        :mod:`marketenv.fundamentals`), move pegged orders with them (their trades belong
        to this tick), then take each symbol's mid, reference price and spread from its
        book for the next tick.
        """
        _perm, z, u, t = self._draws.peek(1)
        jumps = self.news.step(u[0], t[0])
        fair = self.fundamentals.step(jumps, self.news.attention, z[0])
        self._draws.consume(1)
        self._trades = K.end_tick(*self._state(), np.asarray(fair, dtype=np.float64) * TICKS_PER_UNIT)
        y = self._sym
        return TickStats(
            self.tick,
            y[:, L.Y_TRADES].copy(),
            y[:, L.Y_VOLUME].copy(),
            y[:, L.Y_HIGH].copy(),
            y[:, L.Y_LOW].copy(),
        )

    # ----------------------------------------------------------------- state
    @property
    def cash(self) -> np.ndarray:
        """Cash per agent, integer cents (a live read-only view)."""
        v = self._agent[:, L.G_CASH]
        v.flags.writeable = False
        return v

    @property
    def position(self) -> np.ndarray:
        """Positions, flat: ``position[agent * n_symbols + symbol]`` shares (a live read-only view)."""
        v = self._acct[:, L.A_POS]
        v.flags.writeable = False
        return v

    @property
    def position_limit(self) -> np.ndarray:
        """Position limit per agent, shares."""
        return self._agent[:, L.G_LIMIT].copy()

    @property
    def fees_collected(self) -> int:
        """Fees the exchange has collected, cents."""
        return int(self._sc[L.S_FEES])

    @property
    def total_trades(self) -> int:
        """Trades since the start."""
        return int(self._sc[L.S_TOTAL_TRADES])

    @property
    def total_volume(self) -> int:
        """Shares traded since the start."""
        return int(self._sc[L.S_TOTAL_VOLUME])

    @property
    def trade_array(self) -> np.ndarray:
        """This tick's trades, ``(n, 9)`` int64 in the field order of :class:`Trade` (a copy)."""
        return self._trades[: self._sc[L.S_N_TRADES]].copy()

    @property
    def last_tick_trade_array(self) -> np.ndarray:
        """The trades of the last tick a compiled loop finished (valid until the next trade)."""
        return self._trades[: self._sc[L.S_LAST_N_TRADES]].copy()

    @property
    def trades(self) -> list[Trade]:
        """This tick's trades as :class:`Trade` tuples (a fresh list)."""
        return [Trade(*row) for row in self._trades[: self._sc[L.S_N_TRADES]].tolist()]

    def mid_price(self, symbol: int) -> float:
        """Mid price in currency units; the last two-sided mid if a side is empty."""
        return int(self._sym[symbol, L.Y_MID2]) / (2 * TICKS_PER_UNIT)

    def mid_prices(self) -> np.ndarray:
        """Mid prices of all symbols, currency units."""
        return self._sym[:, L.Y_MID2].astype(float) / (2 * TICKS_PER_UNIT)

    def mid2(self, symbol: int) -> int:
        """Twice the mid price in ticks (an exact integer even for half-tick mids)."""
        return int(self._sym[symbol, L.Y_MID2])

    def reference_price(self, symbol: int) -> int:
        """Integer reference price in ticks: ``floor(mid)``; action price offsets are relative to it."""
        return int(self._sym[symbol, L.Y_REF])

    def spread(self, symbol: int) -> int:
        """Spread in ticks; the last two-sided value if a side is empty (0 before any)."""
        return int(self._sym[symbol, L.Y_SPREAD])

    def fair_value(self, symbol: int) -> float:
        """Current fair value, currency units."""
        return float(self.fundamentals.fair_value[symbol])

    def active_news(self, symbol: int) -> NewsEvent | None:
        """The symbol's active news event this tick, or ``None``."""
        return self.news.active(symbol)

    def equity_cents(self) -> np.ndarray:
        """Each agent's equity marked at the current mids, in cents (float for half-cent mids)."""
        pos = self._acct[:, L.A_POS].reshape(self.n_agents, self.n_symbols)
        return self._agent[:, L.G_CASH] + (pos @ self._sym[:, L.Y_MID2]) / 2.0

    def open_quantity(self, agent: int, symbol: int, side: int) -> int:
        """Shares the agent has resting on one side of a symbol."""
        return int(self._acct[agent * self.n_symbols + symbol, L.A_OPEN_BUY if side > 0 else L.A_OPEN_SELL])

    def free_cash(self, agent: int) -> int:
        """Cash not reserved by the agent's resting buy orders, cents."""
        return int(self._agent[agent, L.G_CASH] - self._agent[agent, L.G_RESERVED])

    def check_conservation(self) -> None:
        """Assert the accounting identities (cash + fees, shares per symbol); raise if broken."""
        if int(self._agent[:, L.G_CASH].sum()) + self.fees_collected != int(self.initial_cash.sum()):
            raise AssertionError("cash is not conserved")
        pos = self._acct[:, L.A_POS].reshape(self.n_agents, self.n_symbols).sum(axis=0)
        init = self.initial_position.reshape(self.n_agents, self.n_symbols).sum(axis=0)
        for s in np.flatnonzero(pos != init):
            raise AssertionError(f"positions in symbol {s} are not conserved")

    def fees_of(self, notional_cents: np.ndarray) -> np.ndarray:
        """The fee one side of each trade pays, cents, for integer notionals in cents."""
        return np.asarray(notional_cents, dtype=np.int64) * int(self._sc[L.S_FEE_RATE]) // 1_000_000

    # ----------------------------------------------------------------- orders
    def submit(self, order: Order) -> OrderResult:
        """Check and execute one order now.

        Args:
            order: The order (integer ticks and shares).

        Returns:
            The order's fate; a rejected order has ``status == REJECTED`` and a reason.

        Raises:
            InvalidOrderError: the agent, symbol, side or kind does not exist (a caller
                bug, not a market rule).
        """
        agent, symbol, side, qty, price, kind = order
        if not 0 <= agent < self.n_agents:
            raise InvalidOrderError(f"order agent {agent} is not an agent slot (0..{self.n_agents - 1})")
        if not 0 <= symbol < self.n_symbols:
            raise InvalidOrderError(f"order symbol {symbol} is not a symbol index (0..{self.n_symbols - 1})")
        if side != 1 and side != -1:
            raise InvalidOrderError(f"order side {side} must be +1 (buy) or -1 (sell)")
        if kind not in _KINDS:
            raise InvalidOrderError(f"order kind must be LIMIT, IOC or MARKET, got {kind!r}")
        return OrderResult(*self.place(int(agent), int(symbol), int(side), int(qty), int(price), int(kind)))

    def place(
        self, agent: int, symbol: int, side: int, qty: int, price: int, kind: int, pegged: bool = False
    ) -> tuple[int, int, int, int, str]:
        """:meth:`submit` for trusted plain-int arguments.

        ``pegged`` pegs a resting limit remainder to the fair value (see the module docstring).

        Returns:
            ``(order_id, status, filled, notional, reason)``.
        """
        if self._sc[L.S_N_FREE] < 1:
            self._grow_pool()
        anchor = float(self.fundamentals.fair_value[symbol]) * TICKS_PER_UNIT
        self._trades, oid, status, filled, notional = K.place(
            *self._state(), agent, symbol, side, qty, price, kind, pegged, anchor, self._rej
        )
        reason = "" if status != _REJ else rejection_reason(int(self._rej[0]), self._rej[1:].tolist())
        return int(oid), int(status), int(filled), int(notional), reason

    def single_resting(self, agent: int, symbol: int, side: int) -> tuple[int, int, bool] | None:
        """``(price, remaining, pegged)`` of the agent's only resting order on a side, else ``None``."""
        k = agent * self.n_symbols + symbol
        si = 0 if side > 0 else 1
        if self._acct[k, L.A_COUNT_BUY + si] != 1:
            return None
        r = self._pool[self._acct[k, L.A_HEAD_BUY + si]]
        return int(r[L.P_PRICE]), int(r[L.P_QTY]), bool(r[L.P_PEGGED])

    def cancel(self, order_id: int) -> int:
        """Cancel one resting order; returns the shares cancelled (0 if not resting)."""
        slot = self._slot_of(order_id)
        if slot < 0:
            return 0
        p = self._state()
        return int(K.cancel_slot(p[0], p[2], p[3], p[4], p[5], p[6], p[7], p[8], slot))

    def cancel_side(self, agent: int, symbol: int, side: int) -> int:
        """Cancel all of an agent's resting orders on one side of a symbol; returns shares."""
        p = self._state()
        return int(K.cancel_side(p[0], p[2], p[3], p[4], p[5], p[6], p[7], p[8], agent, symbol, side))

    def resting_orders(self, agent: int, symbol: int) -> list[tuple[int, int, int, int]]:
        """The agent's resting orders on a symbol as ``(order_id, side, price, remaining)``.

        Buys first, then sells, each by order id.
        """
        k = agent * self.n_symbols + symbol
        out = []
        for si in (0, 1):
            rows = []
            slot = int(self._acct[k, L.A_HEAD_BUY + si])
            while slot != -1:
                r = self._pool[slot]
                rows.append((int(r[L.P_ID]), int(r[L.P_SIDE]), int(r[L.P_PRICE]), int(r[L.P_QTY])))
                slot = int(r[L.P_ANEXT])
            out.extend(sorted(rows))
        return out
