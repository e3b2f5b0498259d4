"""Whole ticks of a compiled crowd in one numba call: features, decisions, execution.

A tick here is the phases of :class:`marketenv.simulation.Simulation`, in the same order and
on the same state arrays, so results are identical to the phase-by-phase Python path:

* **begin**: :func:`~marketenv.engine.kernels.start_tick`, then the features of every agent
  (:func:`~marketenv.engine.features.market_rows`, :func:`~marketenv.engine.features.agents_step`);
* **finish**: every rule-based agent decides (:func:`agents.kernels.decide`), externally
  driven agents' actions replace theirs, the acting order is drawn, the actions execute
  (:func:`~marketenv.engine.kernels.execute`), the next fair values and news are published
  and pegged orders move (:func:`~marketenv.engine.kernels.end_tick`), and the tick's
  statistics are kept for the next bar.

It lives with the strategies because it calls their compiled decision kernel; the core
reaches it only through the crowd object it was given (:meth:`agents.crowd.Crowd.run_ticks`).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from agents.kernels import decide
from marketenv.engine import exogenous as X
from marketenv.engine import features as EF
from marketenv.engine import kernels as K
from marketenv.engine.layout import (
    A_POS,
    G_CASH,
    N_OUTCOME,
    O_STATUS_BUY,
    O_STATUS_SELL,
    S_LAST_N_TRADES,
    S_N_FREE,
    S_N_TRADES,
    Y_HIGH,
    Y_LOW,
    Y_MID2,
    Y_TRADES,
    Y_VOLUME,
)
from marketenv.feature_spec import TICKS_PER_YEAR

_SQRT_TPY = math.sqrt(TICKS_PER_YEAR)


@nb.njit(cache=True)
def _begin(pool, anchor, levels, n_levels, sym, acct, agent, free, sc, fund_s, news_f, news_i,
           stats, flags, ind_f, ind_i, ind_buf, ind_val, hist, hist_n, rets, cross_i, prev_mid, rows,
           flat, agent_symbols, limits, safe_cash, init_eq, risk, risk_i, pos, cash, equity, obs):  # noqa: ANN001, ANN202
    K.start_tick(sym, sc)
    EF.market_rows(sym, stats, flags[0] != 0, fund_s, news_f, news_i, ind_f, ind_i, ind_buf, ind_val, hist,
                   hist_n, rets, cross_i, prev_mid, rows)
    EF.agents_step(rows, agent[:, G_CASH], acct[:, A_POS], sym[:, Y_MID2], flat, agent_symbols, limits,
                   safe_cash, init_eq, risk, risk_i, pos, cash, equity, obs, _SQRT_TPY)


@nb.njit(cache=True)
def run_ticks(
    n_ticks, begin_first, begin_last,  # noqa: ANN001
    pool, anchor, levels, n_levels, sym, acct, agent, free, sc, trades,  # noqa: ANN001
    perms, fund_z, news_u, news_t, fund_f, fund_s, news_c, news_f, news_i,  # noqa: ANN001
    stats, flags, ind_f, ind_i, ind_buf, ind_val, hist, hist_n, rets, cross_i, prev_mid, rows,  # noqa: ANN001
    flat, agent_symbols, limits, safe_cash, init_eq, risk, risk_i, pos, cash, equity, obs,  # noqa: ANN001
    ublock, uk, kinds, params, acts, ext_mask, ext_acts, out, crowd_decides,  # noqa: ANN001
):  # noqa: ANN201
    """Run up to ``n_ticks`` finish phases (with begin phases around them, see below).

    With ``begin_first`` a begin phase comes first; between finish phases there is always
    one; with ``begin_last`` the last finish phase is followed by one (the env's step).
    Agents with ``ext_mask`` act ``ext_acts`` instead of their strategy. Unless
    ``crowd_decides`` is false (every action is given, no uniforms are used), the uniforms
    of tick ``j`` are ``ublock[:, uk + j]``; the caller refills the block, so ``n_ticks``
    must not run past its end. ``perms``, ``fund_z``, ``news_u`` and ``news_t`` hold each
    tick's random draws of the acting order, fundamentals and news (row ``j`` for tick
    ``j``). Stops early (before a finish phase) if fewer than ``2 * n_agents
    + 2`` order slots are free.

    Returns:
        ``(trades, ticks_finished)``.
    """
    n = obs.shape[0]
    if begin_first:
        _begin(pool, anchor, levels, n_levels, sym, acct, agent, free, sc, fund_s, news_f, news_i, stats, flags,
               ind_f, ind_i, ind_buf, ind_val, hist, hist_n, rets, cross_i, prev_mid, rows, flat, agent_symbols,
               limits, safe_cash, init_eq, risk, risk_i, pos, cash, equity, obs)
    for j in range(n_ticks):
        if sc[S_N_FREE] < 2 * n + 2:
            return trades, j
        if crowd_decides:
            decide(obs, ublock[:, uk + j, :], kinds, params, acts)
        for i in range(n):
            if ext_mask[i]:
                acts[i, :] = ext_acts[i, :]
        order = perms[j]
        for i in range(n):
            out[i, :] = 0
            out[i, O_STATUS_BUY] = -1
            out[i, O_STATUS_SELL] = -1
        trades, _done = K.execute(pool, anchor, levels, n_levels, sym, acct, agent, free, sc, trades, acts, order,
                                  agent_symbols, fund_s[:, X.FS_FAIR] * 100.0, 0, out)
        X.news_step(news_u[j], news_t[j], news_c, news_f, news_i)
        X.fundamentals_step(fund_z[j], fund_f, fund_s, news_f)
        trades = K.end_tick(pool, anchor, levels, n_levels, sym, acct, agent, free, sc, trades,
                            fund_s[:, X.FS_FAIR] * 100.0)
        for s in range(sym.shape[0]):
            stats[s, 0] = sym[s, Y_TRADES]
            stats[s, 1] = sym[s, Y_VOLUME]
            stats[s, 2] = sym[s, Y_HIGH]
            stats[s, 3] = sym[s, Y_LOW]
        flags[0] = 1
        sc[S_LAST_N_TRADES] = sc[S_N_TRADES]
        if j < n_ticks - 1 or begin_last:
            _begin(pool, anchor, levels, n_levels, sym, acct, agent, free, sc, fund_s, news_f, news_i, stats,
                   flags, ind_f, ind_i, ind_buf, ind_val, hist, hist_n, rets, cross_i, prev_mid, rows, flat,
                   agent_symbols, limits, safe_cash, init_eq, risk, risk_i, pos, cash, equity, obs)
    return trades, n_ticks


def outcome_table(n_agents: int) -> np.ndarray:
    """A fresh outcome table for :func:`run_ticks`."""
    return np.zeros((n_agents, N_OUTCOME), dtype=np.int64)
