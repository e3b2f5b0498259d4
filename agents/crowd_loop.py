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
from marketenv.engine import pcg
from marketenv.engine.layout import (
    A_POS,
    G_CASH,
    N_OUTCOME,
    NEED_DRAWS,
    NEED_SLOTS,
    NEED_SYNC,
    NEED_UNIFORMS,
    O_STATUS_BUY,
    O_STATUS_SELL,
    S_FEE_RATE,
    S_LAST_N_TRADES,
    S_N_FREE,
    S_N_TRADES,
    S_TICK,
    STEP_GREW,
    STEP_IDLE,
    STEP_RAN,
    Y_HIGH,
    Y_LOW,
    Y_MID2,
    Y_TRADES,
    Y_VOLUME,
)
from marketenv.feature_spec import TICKS_PER_YEAR

_SQRT_TPY = math.sqrt(TICKS_PER_YEAR)


# Phases that only read and write the arrays they are given run without numba's reference
# counting (see marketenv.engine.kernels); numba refuses to compile an allocation in them.
_leaf = nb.njit(cache=True, _nrt=False)


@nb.njit(cache=True)
def scratch_for(rets: np.ndarray) -> np.ndarray:
    """The scratch floats of :func:`_begin` for a market whose returns buffer is ``rets``."""
    return np.empty(max(EF.SCRATCH, rets.shape[1]))


@_leaf
def _begin(pool, anchor, levels, n_levels, sym, acct, agent, free, sc, fund_s, news_f, news_i,
           stats, flags, ind_f, ind_i, ind_buf, ind_val, hist, hist_n, rets, cross_i, prev_mid, rows,
           flat, agent_symbols, limits, safe_cash, init_eq, risk, risk_i, pos, cash, equity, obs,
           scratch):  # noqa: ANN001, ANN202
    K.start_tick(sym, sc)
    EF._market_rows(sym, stats, flags[0] != 0, fund_s, news_f, news_i, ind_f, ind_i, ind_buf, ind_val, hist,
                    hist_n, rets, cross_i, prev_mid, rows, scratch)
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
    of tick ``j`` are ``ublock[uk + j]``; the caller refills the block, so ``n_ticks``
    must not run past its end. ``perms``, ``fund_z``, ``news_u`` and ``news_t`` hold each
    tick's random draws of the acting order, fundamentals and news (row ``j`` for tick
    ``j``). Stops early (before a finish phase) if fewer than ``2 * n_agents
    + 2`` order slots are free.

    Returns:
        ``(trades, ticks_finished)``.
    """
    n = obs.shape[0]
    scratch = scratch_for(rets)
    fair = np.empty(sym.shape[0])
    if begin_first:
        _begin(pool, anchor, levels, n_levels, sym, acct, agent, free, sc, fund_s, news_f, news_i, stats, flags,
               ind_f, ind_i, ind_buf, ind_val, hist, hist_n, rets, cross_i, prev_mid, rows, flat, agent_symbols,
               limits, safe_cash, init_eq, risk, risk_i, pos, cash, equity, obs, scratch)
    for j in range(n_ticks):
        if sc[S_N_FREE] < 2 * n + 2:
            return trades, j
        u = ublock[uk + j] if crowd_decides else ublock[0]
        trades = _finish(pool, anchor, levels, n_levels, sym, acct, agent, free, sc, trades, perms[j], fund_z[j],
                         news_u[j], news_t[j], fund_f, fund_s, news_c, news_f, news_i, stats, flags, obs, u, kinds,
                         params, acts, ext_mask, ext_acts, out, agent_symbols, crowd_decides, fair)
        if j < n_ticks - 1 or begin_last:
            _begin(pool, anchor, levels, n_levels, sym, acct, agent, free, sc, fund_s, news_f, news_i, stats,
                   flags, ind_f, ind_i, ind_buf, ind_val, hist, hist_n, rets, cross_i, prev_mid, rows, flat,
                   agent_symbols, limits, safe_cash, init_eq, risk, risk_i, pos, cash, equity, obs, scratch)
    return trades, n_ticks


@nb.njit(cache=True)
def _finish(pool, anchor, levels, n_levels, sym, acct, agent, free, sc, trades, perm, fund_z, news_u, news_t,
            fund_f, fund_s, news_c, news_f, news_i, stats, flags, obs, u, kinds, params, acts, ext_mask, ext_acts,
            out, agent_symbols, crowd_decides, fair):  # noqa: ANN001, ANN202
    """The finish phase of one tick (its draws ``perm``, ``fund_z``, ``news_*``, uniforms ``u``).

    ``fair`` is scratch for the symbols' fair values in cents. Returns the trade buffer
    (reallocated when it grew).
    """
    _decide(obs, u, kinds, params, acts, ext_mask, ext_acts, out, crowd_decides, fund_s, fair)
    trades, _done = K.execute(pool, anchor, levels, n_levels, sym, acct, agent, free, sc, trades, acts, perm,
                              agent_symbols, fair, 0, out)
    _publish(news_u, news_t, news_c, news_f, news_i, fund_z, fund_f, fund_s, fair)
    trades = K.end_tick(pool, anchor, levels, n_levels, sym, acct, agent, free, sc, trades, fair)
    for s in range(sym.shape[0]):
        stats[s, 0] = sym[s, Y_TRADES]
        stats[s, 1] = sym[s, Y_VOLUME]
        stats[s, 2] = sym[s, Y_HIGH]
        stats[s, 3] = sym[s, Y_LOW]
    flags[0] = 1
    sc[S_LAST_N_TRADES] = sc[S_N_TRADES]
    return trades


@_leaf
def _decide(obs, u, kinds, params, acts, ext_mask, ext_acts, out, crowd_decides, fund_s,
            fair):  # noqa: ANN001, ANN202
    """The agents' actions (the crowd's, external ones in ``ext_mask``), a cleared outcome
    table, and the fair values in cents the actions execute against."""
    n = obs.shape[0]
    if crowd_decides:
        decide(obs, u, kinds, params, acts)
    for i in range(n):
        if ext_mask[i]:
            for c in range(acts.shape[1]):
                acts[i, c] = ext_acts[i, c]
    for i in range(n):
        for c in range(out.shape[1]):
            out[i, c] = 0
        out[i, O_STATUS_BUY] = -1
        out[i, O_STATUS_SELL] = -1
    for s in range(fair.shape[0]):
        fair[s] = fund_s[s, X.FS_FAIR] * 100.0


@_leaf
def _publish(news_u, news_t, news_c, news_f, news_i, fund_z, fund_f, fund_s, fair):  # noqa: ANN001, ANN202
    """The next tick's news and fair values (``fair`` in cents, for the pegged orders)."""
    X.news_step(news_u, news_t, news_c, news_f, news_i)
    X.fundamentals_step(fund_z, fund_f, fund_s, news_f)
    for s in range(fair.shape[0]):
        fair[s] = fund_s[s, X.FS_FAIR] * 100.0


@nb.njit(cache=True)
def step_markets(states, trade_bufs, learners, actions, active, keep_before, result, ticks, eq_before, eq_after,
                 fills, outcomes, obs_rows):  # noqa: ANN001, ANN201
    """One whole tick of each active market (the env step of ``Simulation.step({learner: action})``).

    Market ``b``'s state is ``states[b]`` (see :meth:`agents.crowd.Crowd.market_state`) and
    its trade buffer ``trade_bufs[b]``. Its agents ``learners`` act ``actions[b, k]`` (flat
    ``(6,)`` actions), every other agent its strategy (which is still asked for every
    agent, so the random streams are those of the unbatched step). Market ``b`` then
    reports ``result[b]`` (``STEP_*``, or ``NEED_*`` when it could not run: the caller
    services it and calls again for those markets), ``ticks[b]`` (the tick it now stands
    at the start of), and for each learner ``k`` its
    equity before and after the tick, its fills (bought shares, sold shares, bought cents,
    sold cents, fees, as :func:`~marketenv.engine.kernels.fills`), its outcome row
    (columns ``O_*``) and its raw features at the start of the next tick. With
    ``keep_before`` every agent's observations and equities before the tick are copied
    into the state's ``obs_before`` / ``eq_before`` arrays (for a transition built later).

    Returns:
        ``(markets that need a service, markets whose trade buffer grew)``.
    """
    for b in range(len(states)):
        result[b] = _step_one(b, states, trade_bufs, learners, actions, active, keep_before, ticks, eq_before,
                              eq_after, fills, outcomes, obs_rows)
    return _counts(result)


@nb.njit(cache=True, parallel=True)
def step_markets_parallel(states, trade_bufs, learners, actions, active, keep_before, result, ticks, eq_before,
                          eq_after, fills, outcomes, obs_rows):  # noqa: ANN001, ANN201
    """:func:`step_markets` with the markets spread over numba's threads (the same results)."""
    for p in nb.prange(len(states)):
        b = np.int64(p)  # prange's index is unsigned
        result[b] = _step_one(b, states, trade_bufs, learners, actions, active, keep_before, ticks, eq_before,
                              eq_after, fills, outcomes, obs_rows)
    return _counts(result)


@nb.njit(cache=True)
def _counts(result):  # noqa: ANN001, ANN202
    """``(markets that need a service, markets whose trade buffer grew)`` of a step's results."""
    needs = 0
    grew = 0
    for r in result:
        needs += r >= NEED_SLOTS
        grew += r == STEP_GREW
    return needs, grew


@nb.njit(cache=True)
def _step_one(b, states, trade_bufs, learners, actions, active, keep_before, ticks, eq_before, eq_after, fills,
              outcomes, obs_rows):  # noqa: ANN001, ANN202
    """Market ``b``'s part of :func:`step_markets`; its ``STEP_*`` / ``NEED_*`` result."""
    if not active[b]:
        return STEP_IDLE
    (pool, anchor, levels, n_levels, sym, acct, agent, free, sc, perms, fund_z, news_u, news_t, dpos,
     fund_f, fund_s, news_c, news_f, news_i, stats, flags, ind_f, ind_i, ind_buf, ind_val, hist, hist_n, rets,
     cross_i, prev_mid, rows, flat, agent_symbols, limits, safe_cash, init_eq, risk, risk_i, pos, cash, equity,
     obs, ublock, upos, kinds, params, acts, ext_mask, ext_acts, out, obs_before, equity_before, scratch,
     fair, opos, agent_rngs, order_rng, u_now, perm_now) = states[b]
    if sc[S_TICK] != ticks[b]:  # stepped from Python since: blocks and buffers may be new arrays
        return NEED_SYNC
    n = obs.shape[0]
    if sc[S_N_FREE] < 2 * n + 2:
        return NEED_SLOTS
    j = dpos[0]
    if j >= fund_z.shape[0]:
        return NEED_DRAWS
    # A used-up block of acting orders or uniforms: drawn here from the generators when
    # their state pointers are given (marketenv.engine.pcg), else served by the caller.
    pj = opos[0]
    if pj >= perms.shape[0] and order_rng.shape[0] == 0:
        return NEED_DRAWS
    uj = upos[0]
    if uj >= ublock.shape[0] and agent_rngs.shape[0] == 0:
        return NEED_UNIFORMS
    if pj < perms.shape[0]:
        perm = perms[pj]
        opos[0] = pj + 1
    else:
        pcg.permutation_into(order_rng[0], perm_now)
        perm = perm_now
    if uj < ublock.shape[0]:
        u = ublock[uj]
        upos[0] = uj + 1
    else:
        pcg.uniforms_into(agent_rngs, u_now)
        u = u_now
    if keep_before:
        obs_before[:, :] = obs
        equity_before[:] = equity
    for k in range(learners.shape[0]):
        i = learners[k]
        eq_before[b, k] = equity[i]
        ext_acts[i, :] = actions[b, k, :]
    trades = trade_bufs[b]
    cap = trades.shape[0]
    trades = _finish(pool, anchor, levels, n_levels, sym, acct, agent, free, sc, trades, perm, fund_z[j],
                     news_u[j], news_t[j], fund_f, fund_s, news_c, news_f, news_i, stats, flags, obs,
                     u, kinds, params, acts, ext_mask, ext_acts, out, agent_symbols, True, fair)
    dpos[0] = j + 1
    K.agent_fills_into(trades, sc[S_N_TRADES], sc[S_FEE_RATE], learners, fills[b])
    _begin(pool, anchor, levels, n_levels, sym, acct, agent, free, sc, fund_s, news_f, news_i, stats,
           flags, ind_f, ind_i, ind_buf, ind_val, hist, hist_n, rets, cross_i, prev_mid, rows, flat,
           agent_symbols, limits, safe_cash, init_eq, risk, risk_i, pos, cash, equity, obs, scratch)
    ticks[b] = sc[S_TICK]
    for k in range(learners.shape[0]):
        i = learners[k]
        eq_after[b, k] = equity[i]
        outcomes[b, k, :] = out[i, :]
        obs_rows[b, k, :] = obs[i, :]
    if trades.shape[0] != cap:
        trade_bufs[b] = trades
        return STEP_GREW
    return STEP_RAN


def outcome_table(n_agents: int) -> np.ndarray:
    """A fresh outcome table for :func:`run_ticks`."""
    return np.zeros((n_agents, N_OUTCOME), dtype=np.int64)
