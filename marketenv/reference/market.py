"""The reference market: books, clock and exact accounts over plain Python objects.

The rules (tick lifecycle, accounting, order checks, pegged orders) are those documented in
:mod:`marketenv.market`; this implementation states them in readable Python and is the
oracle the compiled engine is tested against (see :mod:`marketenv.reference`).
"""

from __future__ import annotations

import numpy as np

from marketenv.actions import NO_OUTCOME, apply_flat
from marketenv.config import Config
from marketenv.errors import InvalidOrderError
from marketenv.fundamentals import Fundamentals
from marketenv.market import TickStats
from marketenv.news import NewsEvent, NewsGenerator
from marketenv.reference.order_book import OrderBook
from marketenv.types import (
    TICKS_PER_UNIT,
    Order,
    OrderKind,
    OrderResult,
    OrderStatus,
    Trade,
)

_REJ = int(OrderStatus.REJECTED)
_RESTING = int(OrderStatus.RESTING)
_MARKET = int(OrderKind.MARKET)
_LIMIT = int(OrderKind.LIMIT)


class ReferenceMarket:
    """Books, accounts and fundamentals of a whole market (the pure-Python reference).

    Args:
        config: The validated scenario.
        agent_symbols: For each agent slot, the symbol index it trades (used only for
            initial positions); length = number of agents.
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
        self.n_symbols = len(config.symbols)
        self.symbol_names = tuple(s.name for s in config.symbols)
        n = len(agent_symbols)
        self.n_agents = n
        self._agent_symbols = [int(x) for x in agent_symbols]
        self._order_rng, fund_rng, news_rng = rngs
        self.books = [OrderBook(i) for i in range(self.n_symbols)]
        self.fundamentals = Fundamentals(config.symbols, fund_rng, config.fundamentals)
        self.news = NewsGenerator(config.news, self.n_symbols, news_rng)
        self._fee = config.market.fee_centibps
        self._allow_short = config.market.allow_short
        self._max_qty = config.market.max_order_quantity

        cash: list[int] = []
        pos: list[int] = [0] * (n * self.n_symbols)
        limit: list[int] = []
        i = 0
        for g in config.agents:
            for _ in range(g.count):
                cash.append(g.initial_cash_cents)
                pos[i * self.n_symbols + int(agent_symbols[i])] = g.initial_position
                limit.append(g.position_limit)
                i += 1
        if i != n:
            raise InvalidOrderError(f"agent_symbols has {n} entries but the config has {i} agents")
        self.cash = cash
        """Cash per agent, integer cents."""
        self.position = pos
        """Positions, flat: ``position[agent * n_symbols + symbol]`` shares."""
        self.position_limit = limit
        self.initial_cash = list(cash)
        self.initial_position = list(pos)
        self.fees_collected = 0
        self._open_buy = [0] * (n * self.n_symbols)
        self._open_sell = [0] * (n * self.n_symbols)
        self._reserved = [0] * n
        # order_id -> [agent, symbol, side, price, remaining, reserved_cents]
        self._orders: dict[int, list[int]] = {}
        self._resting_ids: list[list[set[int]]] = [
            [set(), set()] for _ in range(n * self.n_symbols)
        ]
        self._next_id = 1
        # Per symbol: pegged order id -> fair value (ticks) it is pegged at, in time order.
        self._pegged: list[dict[int, float]] = [{} for _ in range(self.n_symbols)]
        self.tick = -1
        self.trades: list[Trade] = []
        """Trades of the current tick (cleared by :meth:`start_tick`)."""

        fv = self.fundamentals.fair_value_ticks()
        ref = [
            round(s.initial_price * TICKS_PER_UNIT) if s.initial_price is not None else int(fv[k])
            for k, s in enumerate(config.symbols)
        ]
        self._ref = [max(1, r) for r in ref]
        self._mid2 = [2 * r for r in self._ref]  # twice the mid, so half-ticks stay integer
        self._spread = [0] * self.n_symbols
        self._sym_trades = [0] * self.n_symbols
        self._sym_volume = [0] * self.n_symbols
        self._sym_high = list(self._ref)
        self._sym_low = list(self._ref)
        self.total_trades = 0
        self.total_volume = 0

    # ----------------------------------------------------------------- clock
    def start_tick(self) -> int:
        """Advance the clock to the next tick and start its statistics. Returns the new tick.

        The tick's fair values and news were already published at the end of the previous
        tick (:meth:`end_tick`), so the state at the start of tick ``t`` is exactly the
        state after tick ``t - 1``.
        """
        self.tick += 1
        self.trades = []
        n = self.n_symbols
        self._sym_trades = [0] * n
        self._sym_volume = [0] * n
        # The bar starts at the previous mid, rounded outwards to whole ticks.
        self._sym_high = [(m + 1) // 2 for m in self._mid2]
        self._sym_low = [m // 2 for m in self._mid2]
        return self.tick

    def _publish_next(self) -> None:
        """Publish the next tick's news and fair values and move pegged orders with them."""
        jumps = self.news.step()
        fair = self.fundamentals.step(jumps, self.news.attention)
        for s in range(self.n_symbols):
            if self._pegged[s]:
                self._move_pegged(s, float(fair[s]) * TICKS_PER_UNIT)

    def _move_pegged(self, symbol: int, fair_ticks: float) -> None:
        """Re-place the symbol's pegged orders that the fair value moved by a whole tick."""
        pegged = self._pegged[symbol]
        orders = self._orders
        moves: list[tuple[int, int, float]] = []
        for oid, f0 in list(pegged.items()):
            rec = orders.get(oid)
            if rec is None:
                del pegged[oid]
                continue
            k = round(fair_ticks - f0 - 0.25 * rec[2])
            if k:
                moves.append((oid, k, f0))
        if not moves:
            return
        # Orders moving away from the other side first (asks up / bids down), so that a
        # maker's own quotes never cross each other while they move.
        moves.sort(key=lambda m: 0 if orders[m[0]][2] * m[1] < 0 else 1)
        book = self.books[symbol]
        for oid, k, f0 in moves:
            rec = orders.get(oid)
            if rec is None:  # filled or self-trade-cancelled by an earlier move
                pegged.pop(oid, None)
                continue
            agent, _sym, side, price, remaining, _reserve = rec
            book.cancel(oid)
            self._forget(oid)
            del pegged[oid]
            new_id, status, _f, _n, _r = self.place(agent, symbol, side, remaining, max(1, price + k), _LIMIT)
            if status == _RESTING:
                pegged[new_id] = f0 + k
        self._refresh_quote(symbol)

    def _refresh_quote(self, s: int) -> None:
        """Update the symbol's mid, reference and spread from its book (if two-sided)."""
        book = self.books[s]
        bid = book.best_bid()
        ask = book.best_ask()
        if bid is not None and ask is not None:
            self._mid2[s] = bid + ask
            self._ref[s] = (bid + ask) // 2
            self._spread[s] = ask - bid
        m_lo = self._mid2[s] // 2
        m_hi = (self._mid2[s] + 1) // 2
        if m_hi > self._sym_high[s]:
            self._sym_high[s] = m_hi
        if m_lo < self._sym_low[s]:
            self._sym_low[s] = m_lo

    def agent_order(self) -> np.ndarray:
        """This tick's seeded random permutation of agent slots (the acting order)."""
        return self._order_rng.permutation(self.n_agents)

    def end_tick(self) -> TickStats:
        """Close the tick and return its per-symbol statistics.

        In order: publish the next tick's news and fair values (:mod:`marketenv.news`,
        :mod:`marketenv.fundamentals`), move pegged orders with them (their trades belong
        to this tick), then take each symbol's mid, reference price and spread from its
        book for the next tick.
        """
        self._publish_next()
        for s in range(self.n_symbols):
            self._refresh_quote(s)
        return TickStats(
            self.tick,
            np.array(self._sym_trades, dtype=np.int64),
            np.array(self._sym_volume, dtype=np.int64),
            np.array(self._sym_high, dtype=np.int64),
            np.array(self._sym_low, dtype=np.int64),
        )

    # ----------------------------------------------------------------- state
    def mid_price(self, symbol: int) -> float:
        """Mid price in currency units; the last two-sided mid if a side is empty."""
        return self._mid2[symbol] / (2 * TICKS_PER_UNIT)

    def mid_prices(self) -> np.ndarray:
        """Mid prices of all symbols, currency units."""
        return np.array(self._mid2, dtype=float) / (2 * TICKS_PER_UNIT)

    def mid2(self, symbol: int) -> int:
        """Twice the mid price in ticks (an exact integer even for half-tick mids)."""
        return self._mid2[symbol]

    def reference_price(self, symbol: int) -> int:
        """Integer reference price in ticks: ``floor(mid)``; action price offsets are relative to it."""
        return self._ref[symbol]

    def spread(self, symbol: int) -> int:
        """Spread in ticks; the last two-sided value if a side is empty (0 before any)."""
        return self._spread[symbol]

    def fair_value(self, symbol: int) -> float:
        """Current fair value, currency units."""
        return float(self.fundamentals.fair_value[symbol])

    def active_news(self, symbol: int) -> NewsEvent | None:
        """The symbol's active news event this tick, or ``None``."""
        return self.news.active(symbol)

    def equity_cents(self) -> np.ndarray:
        """Each agent's equity marked at the current mids, in cents (float for half-cent mids)."""
        pos = np.array(self.position, dtype=np.int64).reshape(self.n_agents, self.n_symbols)
        mid = np.array(self._mid2, dtype=np.int64)
        return np.array(self.cash, dtype=np.int64) + (pos @ mid) / 2.0

    def open_quantity(self, agent: int, symbol: int, side: int) -> int:
        """Shares the agent has resting on one side of a symbol."""
        k = agent * self.n_symbols + symbol
        return self._open_buy[k] if side > 0 else self._open_sell[k]

    def free_cash(self, agent: int) -> int:
        """Cash not reserved by the agent's resting buy orders, cents."""
        return self.cash[agent] - self._reserved[agent]

    def check_conservation(self) -> None:
        """Assert the accounting identities (cash + fees, shares per symbol); raise if broken."""
        if sum(self.cash) + self.fees_collected != sum(self.initial_cash):
            raise AssertionError("cash is not conserved")
        n = self.n_symbols
        for s in range(n):
            if sum(self.position[s::n]) != sum(self.initial_position[s::n]):
                raise AssertionError(f"positions in symbol {s} are not conserved")

    # ----------------------------------------------------------------- orders
    def _fee_of(self, notional: int) -> int:
        return notional * self._fee // 1_000_000

    def fees_of(self, notional_cents: np.ndarray) -> np.ndarray:
        """The fee one side of each trade pays, cents, for integer notionals in cents."""
        return np.asarray(notional_cents, dtype=np.int64) * self._fee // 1_000_000

    def submit(self, order: Order) -> OrderResult:
        """Check and execute one order now.

        Args:
            order: The order (integer ticks and shares).

        Returns:
            The order's fate; a rejected order has ``status == REJECTED`` and a reason.

        Raises:
            InvalidOrderError: the agent, symbol or side does not exist (a caller bug, not
                a market rule).
        """
        agent, symbol, side, qty, price, kind = order
        if not 0 <= agent < self.n_agents:
            raise InvalidOrderError(f"order agent {agent} is not an agent slot (0..{self.n_agents - 1})")
        if not 0 <= symbol < self.n_symbols:
            raise InvalidOrderError(f"order symbol {symbol} is not a symbol index (0..{self.n_symbols - 1})")
        if side != 1 and side != -1:
            raise InvalidOrderError(f"order side {side} must be +1 (buy) or -1 (sell)")
        oid, status, filled, notional, reason = self.place(
            int(agent), int(symbol), int(side), int(qty), int(price), int(kind)
        )
        return OrderResult(oid, status, filled, notional, reason)

    def place(
        self, agent: int, symbol: int, side: int, qty: int, price: int, kind: int, pegged: bool = False
    ) -> tuple[int, int, int, int, str]:
        """The fast path of :meth:`submit` for trusted plain-int arguments.

        ``pegged`` pegs a resting limit remainder to the fair value (see the module docstring).

        Returns:
            ``(order_id, status, filled, notional, reason)``.
        """
        if qty < 1:
            return -1, _REJ, 0, 0, f"quantity {qty} must be >= 1"
        if qty > self._max_qty:
            return -1, _REJ, 0, 0, f"quantity {qty} exceeds max_order_quantity {self._max_qty}"
        is_market = kind == _MARKET
        if not is_market and price < 1:
            return -1, _REJ, 0, 0, f"limit price {price} ticks must be >= 1"
        k = agent * self.n_symbols + symbol
        pos = self.position[k]
        lim = self.position_limit[agent]
        if side > 0:
            if pos + self._open_buy[k] + qty > lim:
                return -1, _REJ, 0, 0, (
                    f"position limit: position {pos} + open buys {self._open_buy[k]} + {qty} > {lim}"
                )
        else:
            floor = -lim if self._allow_short else 0
            if pos - self._open_sell[k] - qty < floor:
                what = "position limit" if self._allow_short else "short selling not allowed"
                return -1, _REJ, 0, 0, (
                    f"{what}: position {pos} - open sells {self._open_sell[k]} - {qty} < {floor}"
                )
        book = self.books[symbol]
        fill_qty, fill_notional = book.sweep(side, qty, None if is_market else price, agent)
        fee_rate = self._fee
        need = fill_notional * fee_rate // 1_000_000 if fee_rate else 0
        if side > 0:
            need += fill_notional
            if kind == _LIMIT:
                rest_cost = (qty - fill_qty) * price
                need += rest_cost + (rest_cost * fee_rate // 1_000_000 if fee_rate else 0)
        free = self.cash[agent] - self._reserved[agent]
        if need > free:
            return -1, _REJ, 0, 0, f"insufficient cash: needs {need} cents, {free} free"

        oid = self._next_id
        self._next_id += 1
        trades = self.trades
        n0 = len(trades)
        filled, notional, status, self_cancelled = book.submit(
            oid, agent, side, qty, price, kind, self.tick, trades
        )
        for cid in self_cancelled:
            self._forget(cid)
        if len(trades) > n0:
            self._settle(trades, n0, symbol)
        if status == _RESTING:
            remaining = qty - filled
            reserve = 0
            if side > 0:
                cost = remaining * price
                reserve = cost + (cost * fee_rate // 1_000_000 if fee_rate else 0)
                self._open_buy[k] += remaining
                self._reserved[agent] += reserve
            else:
                self._open_sell[k] += remaining
            self._orders[oid] = [agent, symbol, side, price, remaining, reserve]
            self._resting_ids[k][side < 0].add(oid)
            if pegged:
                self._pegged[symbol][oid] = float(self.fundamentals.fair_value[symbol]) * TICKS_PER_UNIT
        return oid, int(status), filled, notional, ""

    def execute(self, actions: np.ndarray, order: np.ndarray) -> list:
        """Execute flat ``(n_agents, 6)`` order actions agent by agent in ``order``.

        Returns one :class:`~marketenv.actions.ActionOutcome` per agent (``NO_OUTCOME`` for
        agents that did not act).
        """
        flat = np.asarray(actions).reshape(self.n_agents, 6)
        active = ((flat[:, 0] != 0) | (flat[:, 3] != 0)).tolist()
        rows = flat.tolist()
        syms = self._agent_symbols
        outcomes = [NO_OUTCOME] * self.n_agents
        for agent in np.asarray(order).tolist():
            if active[agent]:
                outcomes[agent] = apply_flat(self, agent, syms[agent], rows[agent])
        return outcomes

    @property
    def trade_array(self) -> np.ndarray:
        """This tick's trades as an ``(n, 9)`` int64 array (the fields of :class:`Trade`)."""
        if not self.trades:
            return np.empty((0, 9), dtype=np.int64)
        return np.array(self.trades, dtype=np.int64)

    def single_resting(self, agent: int, symbol: int, side: int) -> tuple[int, int, bool] | None:
        """``(price, remaining, pegged)`` of the agent's only resting order on a side, else ``None``."""
        ids = self._resting_ids[agent * self.n_symbols + symbol][side < 0]
        if len(ids) != 1:
            return None
        for oid in ids:
            rec = self._orders[oid]
            return rec[3], rec[4], oid in self._pegged[symbol]
        return None  # pragma: no cover

    def _settle(self, trades: list[Trade], start: int, symbol: int) -> None:
        cash = self.cash
        pos = self.position
        n = self.n_symbols
        fee_rate = self._fee
        orders = self._orders
        vol = 0
        count = 0
        hi = self._sym_high[symbol]
        lo = self._sym_low[symbol]
        for i in range(start, len(trades)):
            t = trades[i]
            price = t.price
            q = t.quantity
            notional = price * q
            fee = notional * fee_rate // 1_000_000
            cash[t.buyer] -= notional + fee
            cash[t.seller] += notional - fee
            self.fees_collected += 2 * fee
            pos[t.buyer * n + symbol] += q
            pos[t.seller * n + symbol] -= q
            vol += q
            count += 1
            if price > hi:
                hi = price
            if price < lo:
                lo = price
            # The resting side of the trade is the one opposite to the aggressor.
            rid = t.sell_order_id if t.aggressor > 0 else t.buy_order_id
            rec = orders.get(rid)
            if rec is not None:
                self._reduce(rid, rec, q)
        self._sym_high[symbol] = hi
        self._sym_low[symbol] = lo
        self._sym_trades[symbol] += count
        self._sym_volume[symbol] += vol
        self.total_trades += count
        self.total_volume += vol

    def _reduce(self, oid: int, rec: list[int], q: int) -> None:
        agent, symbol, side, price, remaining, reserve = rec
        k = agent * self.n_symbols + symbol
        remaining -= q
        if side > 0:
            self._open_buy[k] -= q
            cost = remaining * price
            new_reserve = cost + self._fee_of(cost)
            self._reserved[agent] -= reserve - new_reserve
            rec[5] = new_reserve
        else:
            self._open_sell[k] -= q
        rec[4] = remaining
        if remaining == 0:
            del self._orders[oid]
            self._resting_ids[k][side < 0].discard(oid)

    def _forget(self, oid: int) -> None:
        """Drop a resting order the book already removed (self-trade cancel)."""
        rec = self._orders.pop(oid, None)
        if rec is None:
            return
        agent, symbol, side, _price, remaining, reserve = rec
        k = agent * self.n_symbols + symbol
        if side > 0:
            self._open_buy[k] -= remaining
            self._reserved[agent] -= reserve
        else:
            self._open_sell[k] -= remaining
        self._resting_ids[k][side < 0].discard(oid)

    def cancel(self, order_id: int) -> int:
        """Cancel one resting order; returns the shares cancelled (0 if not resting)."""
        rec = self._orders.get(order_id)
        if rec is None:
            return 0
        cancelled = self.books[rec[1]].cancel(order_id)
        self._forget(order_id)
        return cancelled

    def cancel_side(self, agent: int, symbol: int, side: int) -> int:
        """Cancel all of an agent's resting orders on one side of a symbol; returns shares."""
        k = agent * self.n_symbols + symbol
        ids = self._resting_ids[k][side < 0]
        if not ids:
            return 0
        book = self.books[symbol]
        orders = self._orders
        total = 0
        for oid in sorted(ids) if len(ids) > 1 else tuple(ids):
            total += book.cancel(oid)
            _a, _s, _side, _p, remaining, reserve = orders.pop(oid)
            if side > 0:
                self._open_buy[k] -= remaining
                self._reserved[agent] -= reserve
            else:
                self._open_sell[k] -= remaining
        ids.clear()
        return total

    def resting_orders(self, agent: int, symbol: int) -> list[tuple[int, int, int, int]]:
        """The agent's resting orders on a symbol as ``(order_id, side, price, remaining)``."""
        k = agent * self.n_symbols + symbol
        out = []
        for side_ids in self._resting_ids[k]:
            for oid in sorted(side_ids):
                _a, _s, side, price, remaining, _r = self._orders[oid]
                out.append((oid, side, price, remaining))
        return out
