"""Named column layouts of the compiled engine's state arrays.

The engine keeps a whole market in a few preallocated ``int64`` arrays (plus one
``float64`` array for peg anchors); these constants are the only way code indexes them.

* ``pool[slot, P_*]``: one row per order slot (live resting orders; free slots are on the
  ``free`` stack). Orders of one price level form a FIFO list (``P_NEXT``/``P_PREV``), an
  agent's orders on one side of a symbol another list (``P_ANEXT``/``P_APREV``), and a
  symbol's pegged orders a third one in placement (= order id) order
  (``P_PNEXT``/``P_PPREV``). ``-1`` ends a list.
* ``levels[symbol, side, i, L_*]``: the price levels of one side, sorted so the best level
  is last (bids ascending, asks descending); ``n_levels[symbol, side]`` are used.
* ``sym[symbol, Y_*]``: per-symbol quote and tick statistics.
* ``acct[agent * n_symbols + symbol, A_*]``: an agent's position and open orders in a symbol.
* ``agent[agent, G_*]``: an agent's cash, reserved cash and position limit (cents, shares).
* ``scalars[S_*]``: the clock, counters and market rules.
* ``trades[i, T_*]``: the current tick's trades (the fields of :class:`marketenv.types.Trade`).
* ``outcomes[agent, O_*]``: what each agent's action did this tick.

Side index ``0`` is the bid side (buy orders), ``1`` the ask side (sell orders).
"""

from __future__ import annotations

# Order pool columns.
(
    P_ID, P_AGENT, P_SYMBOL, P_SIDE, P_PRICE, P_QTY, P_NEXT, P_PREV, P_ANEXT, P_APREV,
    P_RESERVE, P_PEGGED, P_PNEXT, P_PPREV,
) = range(14)
N_POOL = 14

# Price level columns.
L_PRICE, L_QTY, L_HEAD, L_TAIL = range(4)
N_LEVEL = 4

# Per-symbol columns.
(
    Y_MID2, Y_REF, Y_SPREAD, Y_TRADES, Y_VOLUME, Y_HIGH, Y_LOW, Y_BID_TOTAL, Y_ASK_TOTAL,
    Y_PEG_HEAD, Y_PEG_TAIL, Y_ORDERS,
) = range(12)
N_SYM = 12

# Per agent-and-symbol columns.
A_POS, A_OPEN_BUY, A_OPEN_SELL, A_HEAD_BUY, A_HEAD_SELL, A_COUNT_BUY, A_COUNT_SELL = range(7)
N_ACCT = 7

# Per-agent columns.
G_CASH, G_RESERVED, G_LIMIT = range(3)
N_AGENT = 3

# Scalars.
(
    S_TICK, S_NEXT_ID, S_FEES, S_TOTAL_TRADES, S_TOTAL_VOLUME, S_N_TRADES, S_N_FREE,
    S_FEE_RATE, S_ALLOW_SHORT, S_MAX_QTY, S_N_SYMBOLS, S_LAST_N_TRADES,
) = range(12)
N_SCALARS = 12

# Trade columns (the order of marketenv.types.Trade).
T_TICK, T_SYMBOL, T_PRICE, T_QTY, T_BUYER, T_SELLER, T_BUY_ID, T_SELL_ID, T_AGGRESSOR = range(9)
N_TRADE = 9

# Outcome columns; a rejection is a reason code (R_*) and up to four integers.
(
    O_ACTED, O_PLACED_BUY, O_PLACED_SELL, O_PRICE_BUY, O_PRICE_SELL, O_STATUS_BUY, O_STATUS_SELL,
    O_MID2, O_REJ_BUY, O_RB1, O_RB2, O_RB3, O_RB4, O_REJ_SELL, O_RS1, O_RS2, O_RS3, O_RS4,
) = range(18)
N_OUTCOME = 18

# Rejection reasons.
(
    R_NONE, R_QTY_LOW, R_QTY_HIGH, R_PRICE, R_LIMIT_BUY, R_LIMIT_SELL, R_NO_SHORT, R_CASH,
) = range(8)

# Per-market results of the batched env step (agents.crowd_loop.step_markets).
STEP_RAN, STEP_GREW, STEP_IDLE, NEED_SLOTS, NEED_DRAWS, NEED_UNIFORMS, NEED_SYNC = range(7)
"""It ran; it ran and its trade buffer was reallocated; it was not asked to run; it could
not run for want of free order slots, of process draws, of agents' uniforms, or because
it was stepped elsewhere since (its arrays may have been replaced). ``NEED_*`` is every
code from ``NEED_SLOTS`` on: the caller serves the market and asks again."""
