"""The compiled market engine: array order books, matching, exact accounts, a tick's actions.

Every function here is a numba kernel over the state arrays of :mod:`marketenv.engine.layout`
(see :class:`marketenv.engine.state.EngineState`, which owns them). The rules are those of
the reference implementation (:mod:`marketenv.reference`), which the differential tests hold
this engine to, trade for trade:

* price-time priority, execution at the resting order's price, ``LIMIT`` rests, ``IOC`` and
  ``MARKET`` drop their remainder;
* self-trade rule "cancel resting": an incoming order cancels the resting orders of its own
  agent that it reaches;
* order checks (quantity, price, position limit, cash for fills, rest and fees), integer
  cents and shares, ``fee = notional * fee_rate // 1_000_000`` per side;
* pegged orders re-placed by whole ticks when the fair value moves (``k = round(F - F0 -
  side / 4)``, half to even), orders moving away from the other side first.

The caller guarantees free order slots (:func:`execute` stops and reports where it needs
more); the trade buffer grows inside the kernels and is returned by every kernel that may
trade.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from marketenv.engine.layout import (
    A_COUNT_BUY,
    A_HEAD_BUY,
    A_OPEN_BUY,
    A_OPEN_SELL,
    A_POS,
    G_CASH,
    G_LIMIT,
    G_RESERVED,
    L_HEAD,
    L_PRICE,
    L_QTY,
    L_TAIL,
    O_ACTED,
    O_MID2,
    O_PLACED_BUY,
    O_PLACED_SELL,
    O_PRICE_BUY,
    O_PRICE_SELL,
    O_RB1,
    O_REJ_BUY,
    O_REJ_SELL,
    O_RS1,
    O_STATUS_BUY,
    O_STATUS_SELL,
    P_AGENT,
    P_ANEXT,
    P_APREV,
    P_ID,
    P_NEXT,
    P_PEGGED,
    P_PNEXT,
    P_PPREV,
    P_PREV,
    P_PRICE,
    P_QTY,
    P_RESERVE,
    P_SIDE,
    P_SYMBOL,
    R_CASH,
    R_LIMIT_BUY,
    R_LIMIT_SELL,
    R_NO_SHORT,
    R_NONE,
    R_PRICE,
    R_QTY_HIGH,
    R_QTY_LOW,
    S_ALLOW_SHORT,
    S_FEE_RATE,
    S_FEES,
    S_MAX_QTY,
    S_N_FREE,
    S_N_SYMBOLS,
    S_N_TRADES,
    S_NEXT_ID,
    S_TICK,
    S_TOTAL_TRADES,
    S_TOTAL_VOLUME,
    T_AGGRESSOR,
    T_BUY_ID,
    T_BUYER,
    T_PRICE,
    T_QTY,
    T_SELL_ID,
    T_SELLER,
    T_SYMBOL,
    T_TICK,
    Y_ASK_TOTAL,
    Y_BID_TOTAL,
    Y_HIGH,
    Y_LOW,
    Y_MID2,
    Y_ORDERS,
    Y_PEG_HEAD,
    Y_PEG_TAIL,
    Y_REF,
    Y_SPREAD,
    Y_TRADES,
    Y_VOLUME,
)

# OrderKind and OrderStatus values (marketenv.types), and action types (marketenv.actions).
K_LIMIT, K_IOC, K_MARKET = 0, 1, 2
ST_FILLED, ST_RESTING, ST_CANCELLED, ST_REJECTED = 0, 1, 2, 3
A_NONE, A_LIMIT, A_IOC, A_MARKET, A_CANCEL, A_PEG = 0, 1, 2, 3, 4, 5

_FEE_DIV = 1_000_000

# Kernels that only read and write arrays they are given (no allocation, no array returned)
# are compiled without numba's reference counting: numba counts references to every array
# argument on entry and exit of a call, and to every view, with atomic instructions it
# often cannot prune, which made those counts most of a tick's cost. numba refuses to
# compile an allocation in such a kernel, so one added by mistake fails loudly. The small
# ones are inlined into their (equally reference-count free) callers as well; inlined into
# a reference-counting kernel they would have their arguments counted again.
_leaf = nb.njit(cache=True, _nrt=False)
_inline_leaf = nb.njit(cache=True, _nrt=False, inline="always")


# ---------------------------------------------------------------------------- levels
@nb.njit(cache=True, inline="always")
def _key(price: int, si: int) -> int:
    return price if si == 0 else -price


@_inline_leaf
def find_level(levels: np.ndarray, n_levels: np.ndarray, s: int, si: int, price: int) -> int:
    """Index of the level at ``price`` on side ``si``, or where it would be inserted."""
    lo = 0
    hi = n_levels[s, si]
    key = _key(price, si)
    while lo < hi:
        m = (lo + hi) >> 1
        if _key(levels[s, si, m, L_PRICE], si) < key:
            lo = m + 1
        else:
            hi = m
    return lo


@_inline_leaf
def _remove_level(levels: np.ndarray, n_levels: np.ndarray, s: int, si: int, i: int) -> None:
    n = n_levels[s, si]
    for j in range(i, n - 1):
        for c in range(levels.shape[3]):
            levels[s, si, j, c] = levels[s, si, j + 1, c]
    n_levels[s, si] = n - 1


@_inline_leaf
def _insert_level(levels: np.ndarray, n_levels: np.ndarray, s: int, si: int, i: int, price: int) -> None:
    n = n_levels[s, si]
    for j in range(n, i, -1):
        for c in range(levels.shape[3]):
            levels[s, si, j, c] = levels[s, si, j - 1, c]
    levels[s, si, i, L_PRICE] = price
    levels[s, si, i, L_QTY] = 0
    levels[s, si, i, L_HEAD] = -1
    levels[s, si, i, L_TAIL] = -1
    n_levels[s, si] = n + 1


@_inline_leaf
def _fifo_unlink(pool: np.ndarray, levels: np.ndarray, s: int, si: int, i: int, slot: int) -> None:
    prev = pool[slot, P_PREV]
    nxt = pool[slot, P_NEXT]
    if prev == -1:
        levels[s, si, i, L_HEAD] = nxt
    else:
        pool[prev, P_NEXT] = nxt
    if nxt == -1:
        levels[s, si, i, L_TAIL] = prev
    else:
        pool[nxt, P_PREV] = prev


# ---------------------------------------------------------------------------- order slots
@_inline_leaf
def _release(pool: np.ndarray, sym: np.ndarray, acct: np.ndarray, free: np.ndarray, sc: np.ndarray, slot: int) -> None:
    """Drop a dead order's slot from its agent's and its symbol's lists and free it."""
    s = pool[slot, P_SYMBOL]
    si = 0 if pool[slot, P_SIDE] > 0 else 1
    k = pool[slot, P_AGENT] * sc[S_N_SYMBOLS] + s
    prev = pool[slot, P_APREV]
    nxt = pool[slot, P_ANEXT]
    if prev == -1:
        acct[k, A_HEAD_BUY + si] = nxt
    else:
        pool[prev, P_ANEXT] = nxt
    if nxt != -1:
        pool[nxt, P_APREV] = prev
    acct[k, A_COUNT_BUY + si] -= 1
    if pool[slot, P_PEGGED]:
        prev = pool[slot, P_PPREV]
        nxt = pool[slot, P_PNEXT]
        if prev == -1:
            sym[s, Y_PEG_HEAD] = nxt
        else:
            pool[prev, P_PNEXT] = nxt
        if nxt == -1:
            sym[s, Y_PEG_TAIL] = prev
        else:
            pool[nxt, P_PPREV] = prev
        pool[slot, P_PEGGED] = 0
    pool[slot, P_ID] = -1
    pool[slot, P_QTY] = 0
    free[sc[S_N_FREE]] = slot
    sc[S_N_FREE] += 1
    sym[s, Y_ORDERS] -= 1


@_inline_leaf
def _forget(pool: np.ndarray, sym: np.ndarray, acct: np.ndarray, agent: np.ndarray, free: np.ndarray,
            sc: np.ndarray, slot: int) -> None:
    """Release a live order's open quantity and reserved cash, then its slot."""
    a = pool[slot, P_AGENT]
    k = a * sc[S_N_SYMBOLS] + pool[slot, P_SYMBOL]
    if pool[slot, P_SIDE] > 0:
        acct[k, A_OPEN_BUY] -= pool[slot, P_QTY]
        agent[a, G_RESERVED] -= pool[slot, P_RESERVE]
    else:
        acct[k, A_OPEN_SELL] -= pool[slot, P_QTY]
    _release(pool, sym, acct, free, sc, slot)


@_inline_leaf
def cancel_slot(pool: np.ndarray, levels: np.ndarray, n_levels: np.ndarray, sym: np.ndarray, acct: np.ndarray,
                agent: np.ndarray, free: np.ndarray, sc: np.ndarray, slot: int) -> int:
    """Cancel the live order in ``slot``; returns its remaining quantity."""
    s = pool[slot, P_SYMBOL]
    side = pool[slot, P_SIDE]
    si = 0 if side > 0 else 1
    q = pool[slot, P_QTY]
    i = find_level(levels, n_levels, s, si, pool[slot, P_PRICE])
    _fifo_unlink(pool, levels, s, si, i, slot)
    levels[s, si, i, L_QTY] -= q
    if levels[s, si, i, L_HEAD] == -1:
        _remove_level(levels, n_levels, s, si, i)
    sym[s, Y_BID_TOTAL if side > 0 else Y_ASK_TOTAL] -= q
    _forget(pool, sym, acct, agent, free, sc, slot)
    return q


@_leaf
def cancel_side(pool: np.ndarray, levels: np.ndarray, n_levels: np.ndarray, sym: np.ndarray, acct: np.ndarray,
                agent: np.ndarray, free: np.ndarray, sc: np.ndarray, a: int, s: int, side: int) -> int:
    """Cancel all of agent ``a``'s resting orders on one side of symbol ``s``; returns shares."""
    k = a * sc[S_N_SYMBOLS] + s
    col = A_HEAD_BUY if side > 0 else A_HEAD_BUY + 1
    total = 0
    slot = acct[k, col]
    while slot != -1:
        total += cancel_slot(pool, levels, n_levels, sym, acct, agent, free, sc, slot)
        slot = acct[k, col]
    return total


# ---------------------------------------------------------------------------- matching
@_inline_leaf
def sweep(pool: np.ndarray, levels: np.ndarray, n_levels: np.ndarray, s: int, side: int, qty: int,
          has_limit: bool, limit: int, a: int) -> tuple[int, int]:
    """``(filled, notional)`` an order would get on arrival, skipping ``a``'s own orders."""
    osi = 1 if side > 0 else 0
    remaining = qty
    notional = 0
    i = n_levels[s, osi] - 1
    while i >= 0 and remaining > 0:
        p = levels[s, osi, i, L_PRICE]
        if has_limit and (p > limit if side > 0 else p < limit):
            break
        o = levels[s, osi, i, L_HEAD]
        while o != -1:
            if pool[o, P_AGENT] != a:
                oq = pool[o, P_QTY]
                if oq >= remaining:
                    notional += p * remaining
                    remaining = 0
                    break
                notional += p * oq
                remaining -= oq
            o = pool[o, P_NEXT]
        i -= 1
    return qty - remaining, notional


@nb.njit(cache=True)
def _room(trades: np.ndarray, need: int) -> np.ndarray:
    """The trade buffer, grown (doubled) until it holds ``need`` trades (callers skip the
    call when it already does).

    An incoming order on symbol ``s`` trades at most once per live order of ``s``, so
    ``S_N_TRADES + sym[s, Y_ORDERS]`` is enough for one order.
    """
    while trades.shape[0] < need:
        out = np.empty((2 * trades.shape[0], trades.shape[1]), dtype=np.int64)
        out[: trades.shape[0]] = trades
        trades = out
    return trades


@_inline_leaf
def _match(pool: np.ndarray, levels: np.ndarray, n_levels: np.ndarray, sym: np.ndarray, acct: np.ndarray,
           agent: np.ndarray, free: np.ndarray, sc: np.ndarray, trades: np.ndarray, s: int, a: int, side: int,
           qty: int, has_limit: bool, limit: int, oid: int) -> tuple[int, int]:
    """Match an incoming order and settle its trades; returns ``(remaining, notional)``.

    ``trades`` must have room for one trade per live order of symbol ``s`` (:func:`_room`).
    """
    osi = 1 if side > 0 else 0
    n_sym = sc[S_N_SYMBOLS]
    fee_rate = sc[S_FEE_RATE]
    tick = sc[S_TICK]
    remaining = qty
    notional = 0
    while n_levels[s, osi] > 0 and remaining > 0:
        i = n_levels[s, osi] - 1
        p = levels[s, osi, i, L_PRICE]
        if has_limit and (p > limit if side > 0 else p < limit):
            break
        o = levels[s, osi, i, L_HEAD]
        while o != -1 and remaining > 0:
            nxt = pool[o, P_NEXT]
            oq = pool[o, P_QTY]
            ra = pool[o, P_AGENT]
            if ra == a:  # self-trade rule: cancel the resting order
                _fifo_unlink(pool, levels, s, osi, i, o)
                levels[s, osi, i, L_QTY] -= oq
                sym[s, Y_BID_TOTAL if osi == 0 else Y_ASK_TOTAL] -= oq
                _forget(pool, sym, acct, agent, free, sc, o)
                o = nxt
                continue
            fill = oq if oq < remaining else remaining
            n = sc[S_N_TRADES]
            if n == trades.shape[0]:
                raise IndexError("trade buffer full: reserve room with _room before matching")
            t = trades[n]
            t[T_TICK] = tick
            t[T_SYMBOL] = s
            t[T_PRICE] = p
            t[T_QTY] = fill
            if side > 0:
                buyer, seller, bid, sid = a, ra, oid, pool[o, P_ID]
            else:
                buyer, seller, bid, sid = ra, a, pool[o, P_ID], oid
            t[T_BUYER] = buyer
            t[T_SELLER] = seller
            t[T_BUY_ID] = bid
            t[T_SELL_ID] = sid
            t[T_AGGRESSOR] = side
            sc[S_N_TRADES] = n + 1
            # settle
            cents = p * fill
            fee = cents * fee_rate // _FEE_DIV
            agent[buyer, G_CASH] -= cents + fee
            agent[seller, G_CASH] += cents - fee
            sc[S_FEES] += 2 * fee
            acct[buyer * n_sym + s, A_POS] += fill
            acct[seller * n_sym + s, A_POS] -= fill
            sym[s, Y_TRADES] += 1
            sym[s, Y_VOLUME] += fill
            if p > sym[s, Y_HIGH]:
                sym[s, Y_HIGH] = p
            if p < sym[s, Y_LOW]:
                sym[s, Y_LOW] = p
            sc[S_TOTAL_TRADES] += 1
            sc[S_TOTAL_VOLUME] += fill
            notional += cents
            remaining -= fill
            levels[s, osi, i, L_QTY] -= fill
            sym[s, Y_BID_TOTAL if osi == 0 else Y_ASK_TOTAL] -= fill
            # the resting order's account
            rk = ra * n_sym + s
            left = oq - fill
            pool[o, P_QTY] = left
            if osi == 0:
                acct[rk, A_OPEN_BUY] -= fill
                cost = left * p
                new_reserve = cost + cost * fee_rate // _FEE_DIV
                agent[ra, G_RESERVED] -= pool[o, P_RESERVE] - new_reserve
                pool[o, P_RESERVE] = new_reserve
            else:
                acct[rk, A_OPEN_SELL] -= fill
            if left == 0:
                _fifo_unlink(pool, levels, s, osi, i, o)
                _release(pool, sym, acct, free, sc, o)
            o = nxt
        if levels[s, osi, i, L_HEAD] == -1:
            _remove_level(levels, n_levels, s, osi, i)
    return remaining, notional


@nb.njit(cache=True)
def place(pool: np.ndarray, peg_anchor: np.ndarray, levels: np.ndarray, n_levels: np.ndarray, sym: np.ndarray,
          acct: np.ndarray, agent: np.ndarray, free: np.ndarray, sc: np.ndarray, trades: np.ndarray,
          a: int, s: int, side: int, qty: int, price: int, kind: int, pegged: bool, anchor: float,
          rej: np.ndarray) -> tuple[np.ndarray, int, int, int, int]:
    """Check and execute one order now (needs one free slot).

    Returns ``(trades, order_id, status, filled, notional)``; a rejected order has id -1
    and its reason code and values in ``rej[0:5]`` (``rej[0]`` is ``R_NONE`` otherwise).
    A resting ``pegged`` order is anchored at ``anchor`` (fair value, ticks).
    """
    need = sc[S_N_TRADES] + sym[s, Y_ORDERS]
    if trades.shape[0] < need:
        trades = _room(trades, need)
    oid, status, filled, notional = _place(pool, peg_anchor, levels, n_levels, sym, acct, agent, free, sc, trades,
                                           a, s, side, qty, price, kind, pegged, anchor, rej)
    return trades, oid, status, filled, notional


@_leaf
def _place(pool: np.ndarray, peg_anchor: np.ndarray, levels: np.ndarray, n_levels: np.ndarray, sym: np.ndarray,
           acct: np.ndarray, agent: np.ndarray, free: np.ndarray, sc: np.ndarray, trades: np.ndarray,
           a: int, s: int, side: int, qty: int, price: int, kind: int, pegged: bool, anchor: float,
           rej: np.ndarray) -> tuple[int, int, int, int]:
    """:func:`place` into a trade buffer with room (:func:`_room`); returns ``(order_id,
    status, filled, notional)``."""
    rej[0] = R_NONE
    if qty < 1:
        rej[0] = R_QTY_LOW
        rej[1] = qty
        return -1, ST_REJECTED, 0, 0
    if qty > sc[S_MAX_QTY]:
        rej[0] = R_QTY_HIGH
        rej[1] = qty
        rej[2] = sc[S_MAX_QTY]
        return -1, ST_REJECTED, 0, 0
    is_market = kind == K_MARKET
    if not is_market and price < 1:
        rej[0] = R_PRICE
        rej[1] = price
        return -1, ST_REJECTED, 0, 0
    k = a * sc[S_N_SYMBOLS] + s
    pos = acct[k, A_POS]
    lim = agent[a, G_LIMIT]
    if side > 0:
        if pos + acct[k, A_OPEN_BUY] + qty > lim:
            rej[0] = R_LIMIT_BUY
            rej[1] = pos
            rej[2] = acct[k, A_OPEN_BUY]
            rej[3] = qty
            rej[4] = lim
            return -1, ST_REJECTED, 0, 0
    else:
        floor = -lim if sc[S_ALLOW_SHORT] else 0
        if pos - acct[k, A_OPEN_SELL] - qty < floor:
            rej[0] = R_LIMIT_SELL if sc[S_ALLOW_SHORT] else R_NO_SHORT
            rej[1] = pos
            rej[2] = acct[k, A_OPEN_SELL]
            rej[3] = qty
            rej[4] = floor
            return -1, ST_REJECTED, 0, 0
    fill_qty, fill_notional = sweep(pool, levels, n_levels, s, side, qty, not is_market, price, a)
    fee_rate = sc[S_FEE_RATE]
    need = fill_notional * fee_rate // _FEE_DIV
    if side > 0:
        need += fill_notional
        if kind == K_LIMIT:
            rest_cost = (qty - fill_qty) * price
            need += rest_cost + rest_cost * fee_rate // _FEE_DIV
    free_cash = agent[a, G_CASH] - agent[a, G_RESERVED]
    if need > free_cash:
        rej[0] = R_CASH
        rej[1] = need
        rej[2] = free_cash
        return -1, ST_REJECTED, 0, 0

    oid = sc[S_NEXT_ID]
    sc[S_NEXT_ID] = oid + 1
    remaining, notional = _match(
        pool, levels, n_levels, sym, acct, agent, free, sc, trades, s, a, side, qty, not is_market, price, oid
    )
    filled = qty - remaining
    if remaining == 0:
        return oid, ST_FILLED, filled, notional
    if kind != K_LIMIT:
        return oid, ST_CANCELLED, filled, notional
    # rest the remainder
    si = 0 if side > 0 else 1
    reserve = 0
    if side > 0:
        cost = remaining * price
        reserve = cost + cost * fee_rate // _FEE_DIV
        acct[k, A_OPEN_BUY] += remaining
        agent[a, G_RESERVED] += reserve
        sym[s, Y_BID_TOTAL] += remaining
    else:
        acct[k, A_OPEN_SELL] += remaining
        sym[s, Y_ASK_TOTAL] += remaining
    n_free = sc[S_N_FREE] - 1
    slot = free[n_free]
    sc[S_N_FREE] = n_free
    sym[s, Y_ORDERS] += 1
    r = pool[slot]
    r[P_ID] = oid
    r[P_AGENT] = a
    r[P_SYMBOL] = s
    r[P_SIDE] = side
    r[P_PRICE] = price
    r[P_QTY] = remaining
    r[P_RESERVE] = reserve
    # price level, FIFO tail
    i = find_level(levels, n_levels, s, si, price)
    if i == n_levels[s, si] or levels[s, si, i, L_PRICE] != price:
        _insert_level(levels, n_levels, s, si, i, price)
    tail = levels[s, si, i, L_TAIL]
    r[P_PREV] = tail
    r[P_NEXT] = -1
    if tail == -1:
        levels[s, si, i, L_HEAD] = slot
    else:
        pool[tail, P_NEXT] = slot
    levels[s, si, i, L_TAIL] = slot
    levels[s, si, i, L_QTY] += remaining
    # the agent's list
    head = acct[k, A_HEAD_BUY + si]
    r[P_APREV] = -1
    r[P_ANEXT] = head
    if head != -1:
        pool[head, P_APREV] = slot
    acct[k, A_HEAD_BUY + si] = slot
    acct[k, A_COUNT_BUY + si] += 1
    # the symbol's pegged orders, in placement order
    r[P_PEGGED] = 1 if pegged else 0
    r[P_PNEXT] = -1
    r[P_PPREV] = -1
    if pegged:
        peg_anchor[slot] = anchor
        ptail = sym[s, Y_PEG_TAIL]
        r[P_PPREV] = ptail
        if ptail == -1:
            sym[s, Y_PEG_HEAD] = slot
        else:
            pool[ptail, P_PNEXT] = slot
        sym[s, Y_PEG_TAIL] = slot
    return oid, ST_RESTING, filled, notional


# ---------------------------------------------------------------------------- a tick
@_leaf
def start_tick(sym: np.ndarray, sc: np.ndarray) -> None:
    """Advance the clock, clear the tick's trades, and start each symbol's bar at its mid."""
    sc[S_TICK] += 1
    sc[S_N_TRADES] = 0
    for s in range(sym.shape[0]):
        sym[s, Y_TRADES] = 0
        sym[s, Y_VOLUME] = 0
        m = sym[s, Y_MID2]
        sym[s, Y_HIGH] = (m + 1) // 2
        sym[s, Y_LOW] = m // 2


@_leaf
def refresh_quote(levels: np.ndarray, n_levels: np.ndarray, sym: np.ndarray, s: int) -> None:
    """Mid, reference and spread from the book when it is two-sided; extend the bar to the mid."""
    nb_ = n_levels[s, 0]
    na = n_levels[s, 1]
    if nb_ > 0 and na > 0:
        bid = levels[s, 0, nb_ - 1, L_PRICE]
        ask = levels[s, 1, na - 1, L_PRICE]
        sym[s, Y_MID2] = bid + ask
        sym[s, Y_REF] = (bid + ask) // 2
        sym[s, Y_SPREAD] = ask - bid
    m_lo = sym[s, Y_MID2] // 2
    m_hi = (sym[s, Y_MID2] + 1) // 2
    if m_hi > sym[s, Y_HIGH]:
        sym[s, Y_HIGH] = m_hi
    if m_lo < sym[s, Y_LOW]:
        sym[s, Y_LOW] = m_lo


@_inline_leaf
def _single_matches(pool: np.ndarray, acct: np.ndarray, k: int, si: int, price: int, qty: int, pegged: bool) -> bool:
    if acct[k, A_COUNT_BUY + si] != 1:
        return False
    slot = acct[k, A_HEAD_BUY + si]
    return pool[slot, P_PRICE] == price and pool[slot, P_QTY] == qty and (pool[slot, P_PEGGED] == 1) == pegged


@_inline_leaf
def _order_kind(t: int) -> int:
    if t == A_IOC:
        return K_IOC
    if t == A_MARKET:
        return K_MARKET
    return K_LIMIT


@nb.njit(cache=True)
def execute(pool: np.ndarray, peg_anchor: np.ndarray, levels: np.ndarray, n_levels: np.ndarray, sym: np.ndarray,
            acct: np.ndarray, agent: np.ndarray, free: np.ndarray, sc: np.ndarray, trades: np.ndarray,
            actions: np.ndarray, order: np.ndarray, agent_symbol: np.ndarray, fair_ticks: np.ndarray,
            start: int, out: np.ndarray) -> tuple[np.ndarray, int]:
    """Execute flat order actions ``(n_agents, 6)`` agent by agent in ``order``.

    Starts at ``order[start]`` and returns ``(trades, j)``: ``j == len(order)`` when done,
    or the position where it stopped because fewer than two order slots were free (grow the
    pool and call again from ``j``). Each acting agent's row of ``out`` is overwritten
    (``O_*`` columns); other rows are left as they are.
    """
    rej = np.zeros(5, dtype=np.int64)
    j = start
    while True:
        j, need = _execute_from(pool, peg_anchor, levels, n_levels, sym, acct, agent, free, sc, trades, actions,
                                order, agent_symbol, fair_ticks, j, out, rej)
        if need == 0:
            return trades, j
        trades = _room(trades, need)


@_leaf
def _execute_from(pool: np.ndarray, peg_anchor: np.ndarray, levels: np.ndarray, n_levels: np.ndarray,
                  sym: np.ndarray, acct: np.ndarray, agent: np.ndarray, free: np.ndarray, sc: np.ndarray,
                  trades: np.ndarray, actions: np.ndarray, order: np.ndarray, agent_symbol: np.ndarray,
                  fair_ticks: np.ndarray, start: int, out: np.ndarray, rej: np.ndarray) -> tuple[int, int]:
    """:func:`execute` from ``order[start]`` until done, short of order slots, or short of
    room in ``trades``; returns ``(j, need)``: where it stopped and, for want of room, the
    trades the buffer must hold to go on (0 otherwise)."""
    n = order.shape[0]
    for j in range(start, n):
        a = order[j]
        if actions[a, 0] == A_NONE and actions[a, 3] == A_NONE:
            continue
        if sc[S_N_FREE] < 2:
            return j, 0
        s = agent_symbol[a]
        # two orders: the first trades at most once per live order, the second once per
        # live order plus the first one resting
        need = sc[S_N_TRADES] + 2 * sym[s, Y_ORDERS] + 1
        if trades.shape[0] < need:
            return j, need
        _act(pool, peg_anchor, levels, n_levels, sym, acct, agent, free, sc, trades, actions, a, s,
             fair_ticks[s], out, rej)
    return n, 0


@_leaf
def _act(pool: np.ndarray, peg_anchor: np.ndarray, levels: np.ndarray, n_levels: np.ndarray, sym: np.ndarray,
         acct: np.ndarray, agent: np.ndarray, free: np.ndarray, sc: np.ndarray, trades: np.ndarray,
         actions: np.ndarray, a: int, s: int, fair_ticks: float, out: np.ndarray, rej: np.ndarray) -> None:
    """Agent ``a``'s flat action on its symbol ``s`` (see :func:`execute`); writes its
    outcome row. ``trades`` must have room for the trades of both orders."""
    act = actions[a]
    o = out[a]
    bt = act[0]
    bq = act[1]
    st = act[3]
    sq = act[4]
    k = a * sc[S_N_SYMBOLS] + s
    ref = sym[s, Y_REF]
    for c in range(o.shape[0]):
        o[c] = 0
    o[O_ACTED] = 1
    o[O_STATUS_BUY] = -1
    o[O_STATUS_SELL] = -1
    keep_b = False
    keep_s = False
    if (bt == A_LIMIT or bt == A_PEG) and bq > 0:
        keep_b = _single_matches(pool, acct, k, 0, ref + act[2], bq, bt == A_PEG)
    if (st == A_LIMIT or st == A_PEG) and sq > 0:
        keep_s = _single_matches(pool, acct, k, 1, ref + act[5], sq, st == A_PEG)
    if bt != A_NONE and not keep_b:
        cancel_side(pool, levels, n_levels, sym, acct, agent, free, sc, a, s, 1)
    if st != A_NONE and not keep_s:
        cancel_side(pool, levels, n_levels, sym, acct, agent, free, sc, a, s, -1)
    for side in (1, -1):
        t = bt if side > 0 else st
        q = bq if side > 0 else sq
        off = act[2] if side > 0 else act[5]
        keep = keep_b if side > 0 else keep_s
        c_status = O_STATUS_BUY if side > 0 else O_STATUS_SELL
        c_placed = O_PLACED_BUY if side > 0 else O_PLACED_SELL
        c_price = O_PRICE_BUY if side > 0 else O_PRICE_SELL
        if keep:
            o[c_status] = ST_RESTING
            o[c_placed] = q
            o[c_price] = ref + off
        elif q > 0 and (t == A_LIMIT or t == A_IOC or t == A_MARKET or t == A_PEG):
            price = 0 if t == A_MARKET else ref + off
            o[c_price] = price
            _oid, status, _f, _n = _place(
                pool, peg_anchor, levels, n_levels, sym, acct, agent, free, sc, trades,
                a, s, side, q, price, _order_kind(t), t == A_PEG, fair_ticks, rej,
            )
            o[c_status] = status
            if status == ST_REJECTED:
                c_rej = O_REJ_BUY if side > 0 else O_REJ_SELL
                c_val = O_RB1 if side > 0 else O_RS1
                o[c_rej] = rej[0]
                for v in range(4):
                    o[c_val + v] = rej[1 + v]
            else:
                o[c_placed] = q
    o[O_MID2] = sym[s, Y_MID2]


@_leaf
def move_pegged(pool: np.ndarray, peg_anchor: np.ndarray, levels: np.ndarray, n_levels: np.ndarray,
                sym: np.ndarray, acct: np.ndarray, agent: np.ndarray, free: np.ndarray, sc: np.ndarray,
                trades: np.ndarray, s: int, fair_ticks: float, moves: np.ndarray, anchors: np.ndarray,
                rej: np.ndarray) -> None:
    """Re-place symbol ``s``'s pegged orders that the fair value moved by whole ticks.

    ``moves (n, 3)`` and ``anchors (n,)`` are scratch rows for its ``n`` pegged orders;
    ``trades`` must have room for ``n`` times its live orders (a move cancels one order and
    places one, which trades at most once per live order).
    """
    m = 0
    slot = sym[s, Y_PEG_HEAD]
    while slot != -1:
        f0 = peg_anchor[slot]
        k = np.int64(np.rint(fair_ticks - f0 - 0.25 * pool[slot, P_SIDE]))
        if k != 0:
            moves[m, 0] = slot  # slot, order id, k
            moves[m, 1] = pool[slot, P_ID]
            moves[m, 2] = k
            anchors[m] = f0
            m += 1
        slot = pool[slot, P_PNEXT]
    if m == 0:
        return
    for away in (True, False):  # orders moving away from the other side first
        for j in range(m):
            slot = moves[j, 0]
            k = moves[j, 2]
            if (pool[slot, P_SIDE] * k < 0) != away or pool[slot, P_ID] != moves[j, 1]:
                continue  # the other pass, or filled / self-trade-cancelled by an earlier move
            a = pool[slot, P_AGENT]
            side = pool[slot, P_SIDE]
            price = pool[slot, P_PRICE]
            remaining = pool[slot, P_QTY]
            cancel_slot(pool, levels, n_levels, sym, acct, agent, free, sc, slot)
            _place(pool, peg_anchor, levels, n_levels, sym, acct, agent, free, sc, trades,
                   a, s, side, remaining, max(1, price + k), K_LIMIT, True, anchors[j] + k, rej)
    refresh_quote(levels, n_levels, sym, s)


@nb.njit(cache=True)
def end_tick(pool: np.ndarray, peg_anchor: np.ndarray, levels: np.ndarray, n_levels: np.ndarray,
             sym: np.ndarray, acct: np.ndarray, agent: np.ndarray, free: np.ndarray, sc: np.ndarray,
             trades: np.ndarray, fair_ticks: np.ndarray) -> np.ndarray:
    """Move pegged orders to the newly published fair values, then refresh every quote."""
    rej = np.zeros(5, dtype=np.int64)
    for s in range(sym.shape[0]):
        count = 0
        slot = sym[s, Y_PEG_HEAD]
        while slot != -1:
            count += 1
            slot = pool[slot, P_PNEXT]
        if count == 0:
            continue
        need = sc[S_N_TRADES] + count * sym[s, Y_ORDERS]
        if trades.shape[0] < need:
            trades = _room(trades, need)
        move_pegged(pool, peg_anchor, levels, n_levels, sym, acct, agent, free, sc, trades, s, fair_ticks[s],
                    np.empty((count, 3), dtype=np.int64), np.empty(count), rej)
    for s in range(sym.shape[0]):
        refresh_quote(levels, n_levels, sym, s)
    return trades


@nb.njit(cache=True)
def fills(trades: np.ndarray, n_agents: int, n_symbols: int, fee_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-agent fills of a list of trades and per-symbol price range.

    Returns ``(per_agent (n_agents, 5): bought shares, sold shares, bought cents, sold
    cents, fees paid; range (n_symbols, 2): lowest, highest trade price in ticks, -1 where
    the symbol did not trade)``.
    """
    per = np.empty((n_agents, 5), dtype=np.int64)
    rng = np.empty((n_symbols, 2), dtype=np.int64)
    fills_into(trades, trades.shape[0], fee_rate, per, rng)
    return per, rng


@_leaf
def fills_into(trades: np.ndarray, n_trades: int, fee_rate: int, per: np.ndarray, rng: np.ndarray) -> None:
    """:func:`fills` of the first ``n_trades`` trades, written into ``per`` and ``rng``."""
    per[:, :] = 0
    rng[:, :] = -1
    for i in range(n_trades):
        q = trades[i, T_QTY]
        p = trades[i, T_PRICE]
        cents = p * q
        fee = cents * fee_rate // _FEE_DIV
        b = trades[i, T_BUYER]
        s = trades[i, T_SELLER]
        per[b, 0] += q
        per[s, 1] += q
        per[b, 2] += cents
        per[s, 3] += cents
        per[b, 4] += fee
        per[s, 4] += fee
        y = trades[i, T_SYMBOL]
        if rng[y, 0] < 0 or p < rng[y, 0]:
            rng[y, 0] = p
        if p > rng[y, 1]:
            rng[y, 1] = p


@_leaf
def agent_fills_into(trades: np.ndarray, n_trades: int, fee_rate: int, agents: np.ndarray, out: np.ndarray) -> None:
    """The :func:`fills` rows of ``agents`` only: ``out[k]`` = agent ``agents[k]``'s row of ``per``."""
    out[:, :] = 0
    for i in range(n_trades):
        q = trades[i, T_QTY]
        cents = trades[i, T_PRICE] * q
        fee = cents * fee_rate // _FEE_DIV
        b = trades[i, T_BUYER]
        s = trades[i, T_SELLER]
        for k in range(agents.shape[0]):
            if agents[k] == b:
                out[k, 0] += q
                out[k, 2] += cents
                out[k, 4] += fee
            if agents[k] == s:
                out[k, 1] += q
                out[k, 3] += cents
                out[k, 4] += fee


@nb.njit(cache=True, inline="always")
def vwap_of(cents: int, qty: int) -> float:
    """``(cents / 100) / qty`` in currency units, NaN when ``qty`` is 0 (the fill-price rule)."""
    return (cents / 100.0) / float(qty) if qty > 0 else np.nan


@nb.njit(cache=True)
def vwap(cents: np.ndarray, qty: np.ndarray) -> np.ndarray:
    """:func:`vwap_of` per row."""
    out = np.empty(cents.shape[0])
    for i in range(cents.shape[0]):
        out[i] = vwap_of(cents[i], qty[i])
    return out


@nb.njit(cache=True)
def encode_outcomes(table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(action int8, action_quantity, action_price)`` per agent from an outcome table.

    The rule of :func:`marketenv.actions.encode_action`: the sign of the net placed
    quantity, or for a two-sided limit quote the sign of its lean against the mid; the
    gross placed quantity; the limit price (currency units) on the side of the action,
    NaN for none or a market order.
    """
    n = table.shape[0]
    action = np.zeros(n, dtype=np.int8)
    qty = np.empty(n)
    price = np.full(n, np.nan)
    for i in range(n):
        pb = table[i, O_PLACED_BUY]
        ps = table[i, O_PLACED_SELL]
        bp = table[i, O_PRICE_BUY]
        sp = table[i, O_PRICE_SELL]
        net = pb - ps
        if net == 0 and pb != 0 and bp > 0 and sp > 0:
            net = bp + sp - table[i, O_MID2]
        qty[i] = float(pb + ps)
        if net > 0:
            action[i] = 1
            if bp > 0:
                price[i] = bp / 100.0
        elif net < 0:
            action[i] = -1
            if sp > 0:
                price[i] = sp / 100.0
    return action, qty, price
