"""Compiled ComprehensiveFeatures: indicators, price history, market rows, risk, assembly.

The definitions are those of :mod:`marketenv.indicators`, :mod:`marketenv.price_history`
and :mod:`marketenv.features` (the pure-Python reference in
:mod:`marketenv.reference.features` computes the same values from those classes, and the
differential tests require bit-identical observations). State lives in arrays:

* indicators, per symbol: ``ind_f[s, I_*]`` (running sums and averages), ``ind_i[s, J_*]``
  (update count ``t``, ring position, resum countdown), ``ind_buf[s, 50]`` (the window
  ring) and ``ind_val[s, 14]`` (the 14 values in :attr:`SymbolIndicators.NAMES` order);
* price history: ``hist[s, 128]`` ring and ``hist_n[s]`` counts;
* cross-symbol returns: ``rets[s, 20]`` and ``cross_i[C_*]``;
* agent risk: ``risk[R_*, agent]`` and ``risk_i[2]`` (equities fed, returns seen).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from marketenv.engine.exogenous import FS_FAIR, NF_MAGNITUDE, NF_SENTIMENT, NI_REMAINING
from marketenv.engine.layout import Y_MID2, Y_SPREAD

WINDOW = 50
RESUM_EVERY = 64
CANCEL = 1e-4
ZERO_WIDTH = 1e-12
HISTORY = 128
CROSS_WINDOW = 20
K12 = 2.0 / 13.0
K26 = 2.0 / 27.0
K9 = 2.0 / 10.0

# Indicator float state columns.
I_C, I_S10, I_S20, I_S50, I_Q20, I_QMAX, I_EMA12, I_EMA26, I_SIGNAL, I_MACD_SUM, I_PREV, I_GAIN, I_LOSS, I_ATR = range(14)
N_IND_F = 14
# Indicator int state columns.
J_T, J_POS, J_COUNTDOWN = range(3)
N_IND_I = 3
N_VALUES = 14
# Cross-symbol state.
C_N_RETS, C_HAS_PREV = range(2)
# Agent risk rows.
R_PREV, R_PEAK, R_MAX_DD, R_MEAN, R_M2, R_SHARPE, R_VOL = range(7)
N_RISK = 7

# Market row layout: the 31 market features, trades, volume, correlation, relative strength.
M1 = 31
ROW = 35
A0 = 31  # first agent feature in the observation
X0 = 41  # first microstructure / cross feature in the observation
N_FEATURES = 45
# Scratch floats the indicator update needs: the window's and the last 20 deltas, their
# squares, and the partial sums of an exact sum.
SCRATCH = WINDOW + 40 + WINDOW + 1

_NAN = math.nan

# The per-agent kernels below only read and write arrays they are given, so they are
# compiled without numba's reference counting (its atomic counts of every array argument
# and view cost more than their arithmetic); numba refuses to compile an allocation there.
_leaf = nb.njit(cache=True, _nrt=False)


def new_indicator_state(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fresh ``(ind_f, ind_i, ind_buf, ind_val)`` for ``n`` symbols (no updates yet)."""
    f = np.zeros((n, N_IND_F))
    f[:, [I_EMA12, I_EMA26, I_SIGNAL, I_PREV]] = _NAN
    i = np.zeros((n, N_IND_I), dtype=np.int64)
    i[:, J_T] = -1
    i[:, J_COUNTDOWN] = RESUM_EVERY
    return f, i, np.zeros((n, WINDOW)), np.full((n, N_VALUES), _NAN)


# ---------------------------------------------------------------------------- exact sums
@nb.njit(cache=True)
def fsum(x: np.ndarray) -> float:
    """The correctly rounded sum of finite ``x`` (the result of Python's ``math.fsum``)."""
    return _fsum_into(x, np.empty(x.shape[0] + 1))


@_leaf
def _fsum_into(x: np.ndarray, partials: np.ndarray) -> float:
    """:func:`fsum` with scratch ``partials`` of at least ``len(x) + 1`` floats."""
    n = 0
    for k in range(x.shape[0]):
        v = x[k]
        i = 0
        for j in range(n):
            y = partials[j]
            if abs(v) < abs(y):
                v, y = y, v
            hi = v + y
            lo = y - (hi - v)
            if lo != 0.0:
                partials[i] = lo
                i += 1
            v = hi
        partials[i] = v
        n = i + 1
    if n == 0:
        return 0.0
    n -= 1
    hi = partials[n]
    lo = 0.0
    while n > 0:
        v = hi
        n -= 1
        y = partials[n]
        hi = v + y
        yr = hi - v
        lo = y - yr
        if lo != 0.0:
            break
    # round half to even across the remaining partials (as CPython does)
    if n > 0 and ((lo < 0.0 and partials[n - 1] < 0.0) or (lo > 0.0 and partials[n - 1] > 0.0)):
        y = lo * 2.0
        v = hi + y
        yr = v - hi
        if y == yr:
            hi = v
    return hi


# ---------------------------------------------------------------------------- indicators
@_leaf
def _resum(f: np.ndarray, it: np.ndarray, buf: np.ndarray, x: float, scratch: np.ndarray) -> None:
    pos = it[J_POS]
    d50 = scratch[:WINDOW]
    d20 = scratch[WINDOW : WINDOW + 20]
    sq20 = scratch[WINDOW + 20 : WINDOW + 40]
    partials = scratch[WINDOW + 40 :]
    for k in range(WINDOW):
        d50[k] = buf[k] - x
    for k in range(20):
        d20[k] = d50[(pos - 19 + k) % WINDOW]
        sq20[k] = d20[k] * d20[k]
    f[I_C] = x
    f[I_S10] = _fsum_into(d20[10:], partials)
    f[I_S20] = _fsum_into(d20, partials)
    f[I_S50] = _fsum_into(d50, partials)
    q20 = _fsum_into(sq20, partials)
    f[I_Q20] = q20
    f[I_QMAX] = q20
    it[J_COUNTDOWN] = RESUM_EVERY


@nb.njit(cache=True, inline="always")
def _write_values(out: np.ndarray, sma10: float, mid: float, sma50: float, e12: float, e26: float, rsi: float,
                  line: float, sig: float, upper: float, lower: float, pct_b: float, atr: float) -> None:
    """The 14 values in :attr:`SymbolIndicators.NAMES` order (``bb_middle`` is ``sma_20``)."""
    out[0] = sma10
    out[1] = mid
    out[2] = sma50
    out[3] = e12
    out[4] = e26
    out[5] = rsi
    out[6] = line
    out[7] = sig
    out[8] = line - sig
    out[9] = upper
    out[10] = mid
    out[11] = lower
    out[12] = pct_b
    out[13] = atr


@_leaf
def _warm_values(f: np.ndarray, it: np.ndarray, buf: np.ndarray, out: np.ndarray, t: int, c: float, s10: float,
                 s20: float, s50: float, e12: float, e26: float, line: float, sig: float, rsi: float,
                 atr: float) -> None:
    sma10 = c + s10 / 10.0 if t >= 9 else _NAN
    if t >= 19:
        mid = c + s20 / 20.0
        m = s20 / 20.0
        var = f[I_Q20] / 20.0 - m * m
        two_sd = 2.0 * math.sqrt(var) if var > 0.0 else 0.0
        upper = mid + two_sd
        lower = mid - two_sd
        width = upper - lower
        x = buf[it[J_POS]]
        pct_b = (x - lower) / width if width > ZERO_WIDTH * abs(mid) else 0.5
    else:
        mid = upper = lower = pct_b = _NAN
    sma50 = c + s50 / 50.0 if t >= 49 else _NAN
    _write_values(out, sma10, mid, sma50, e12, e26, rsi, line, sig, upper, lower, pct_b, atr)


@_leaf
def indicators_update(f: np.ndarray, it: np.ndarray, buf: np.ndarray, out: np.ndarray, close: float,
                      high: float, low: float, scratch: np.ndarray) -> None:
    """Push one symbol's value of this tick and recompute its 14 indicators into ``out``.

    ``f``, ``it``, ``buf`` and ``out`` are that symbol's rows of the indicator state;
    ``scratch`` holds at least :data:`SCRATCH` floats.
    """
    t = it[J_T] + 1
    it[J_T] = t
    x = close
    if t == 0:
        buf[:] = x
        f[I_C] = x
        f[I_PREV] = x
        return
    pos = it[J_POS] + 1
    if pos == WINDOW:
        pos = 0
    it[J_POS] = pos
    c = f[I_C]
    d = x - c
    o20 = buf[(pos - 20) % WINDOW] - c
    s10 = f[I_S10] + d - (buf[(pos - 10) % WINDOW] - c)
    s20 = f[I_S20] + d - o20
    s50 = f[I_S50] + d - (buf[pos] - c)
    q20 = f[I_Q20] + d * d - o20 * o20
    buf[pos] = x
    qmax = f[I_QMAX]
    if q20 > qmax:
        qmax = q20
    m20 = s20 / 20.0
    var = q20 / 20.0 - m20 * m20
    countdown = it[J_COUNTDOWN] - 1
    if countdown == 0 or 20.0 * var < CANCEL * qmax:
        _resum(f, it, buf, x, scratch)
        c = x
        s10 = f[I_S10]
        s20 = f[I_S20]
        s50 = f[I_S50]
        m20 = s20 / 20.0
        var = f[I_Q20] / 20.0 - m20 * m20
    else:
        f[I_S10] = s10
        f[I_S20] = s20
        f[I_S50] = s50
        f[I_Q20] = q20
        f[I_QMAX] = qmax
        it[J_COUNTDOWN] = countdown

    if t > 33:
        e12 = f[I_EMA12]
        e12 += K12 * (x - e12)
        e26 = f[I_EMA26]
        e26 += K26 * (x - e26)
        line = e12 - e26
        sig = f[I_SIGNAL]
        sig += K9 * (line - sig)
        f[I_EMA12] = e12
        f[I_EMA26] = e26
        f[I_SIGNAL] = sig
    else:
        e12 = f[I_EMA12]
        if t > 11:
            e12 += K12 * (x - e12)
        elif t == 11:
            e12 = _fsum_into(buf[:12], scratch) / 12.0
        e26 = f[I_EMA26]
        if t > 25:
            e26 += K26 * (x - e26)
        elif t == 25:
            e26 = _fsum_into(buf[:26], scratch) / 26.0
        f[I_EMA12] = e12
        f[I_EMA26] = e26
        line = e12 - e26
        sig = _NAN
        if t >= 25:
            f[I_MACD_SUM] += line
            if t == 33:
                sig = f[I_MACD_SUM] / 9.0
                f[I_SIGNAL] = sig

    prev = f[I_PREV]
    f[I_PREV] = x
    diff = x - prev
    tr = (high if high > prev else prev) - (low if low < prev else prev)
    if t > 14:
        if diff > 0.0:
            gain = (f[I_GAIN] * 13.0 + diff) / 14.0
            loss = f[I_LOSS] * 13.0 / 14.0
        else:
            gain = f[I_GAIN] * 13.0 / 14.0
            loss = (f[I_LOSS] * 13.0 - diff) / 14.0
        atr = (f[I_ATR] * 13.0 + tr) / 14.0
    else:
        gain = f[I_GAIN]
        loss = f[I_LOSS]
        atr = f[I_ATR] + tr
        if diff > 0.0:
            gain += diff
        else:
            loss -= diff
        if t < 14:
            f[I_GAIN] = gain
            f[I_LOSS] = loss
            f[I_ATR] = atr
            _warm_values(f, it, buf, out, t, c, s10, s20, s50, e12, e26, line, _NAN, _NAN, _NAN)
            return
        gain /= 14.0
        loss /= 14.0
        atr /= 14.0
    f[I_GAIN] = gain
    f[I_LOSS] = loss
    f[I_ATR] = atr
    total = gain + loss
    rsi = 100.0 * (gain / total) if total != 0.0 else 50.0

    if t < 49:
        _warm_values(f, it, buf, out, t, c, s10, s20, s50, e12, e26, line, sig, rsi, atr)
        return
    if var < 0.0:
        var = 0.0
    two_sd = 2.0 * math.sqrt(var)
    mid = c + m20
    upper = mid + two_sd
    lower = mid - two_sd
    width = upper - lower
    pct_b = (x - lower) / width if width > ZERO_WIDTH * abs(mid) else 0.5
    _write_values(out, c + s10 / 10.0, mid, c + s50 / 50.0, e12, e26, rsi, line, sig, upper, lower, pct_b, atr)


# ---------------------------------------------------------------------------- market rows
@nb.njit(cache=True, inline="always")
def _lag(hist: np.ndarray, n: int, k: int) -> float:
    return hist[(n - 1 - k) % HISTORY]


@nb.njit(cache=True)
def cross_kernel(rets: np.ndarray, rows: np.ndarray, col: int) -> None:
    """Rolling correlation with the equal-weight market and relative strength, per symbol.

    ``rets`` is ``(n_symbols, window)`` of 1-tick log returns (column order is irrelevant);
    writes ``rows[:, col]`` (correlation, clipped to [-1, 1], 0 for a flat window) and
    ``rows[:, col + 1]`` (window log return minus the market's).
    """
    _cross_into(rets, rows, col, np.empty(rets.shape[1]))


@_leaf
def _cross_into(rets: np.ndarray, rows: np.ndarray, col: int, mkt: np.ndarray) -> None:
    """:func:`cross_kernel` with scratch ``mkt`` of ``window`` floats."""
    n, w = rets.shape
    for j in range(w):
        acc = 0.0
        for s in range(n):
            acc += rets[s, j]
        mkt[j] = acc / n
    mkt_mean = mkt.sum() / w
    mss = 0.0
    for j in range(w):
        mkt[j] -= mkt_mean
        mss += mkt[j] * mkt[j]
    total = 0.0
    for s in range(n):
        sym_sum = rets[s].sum()
        mean = sym_sum / w
        cov = 0.0
        var = 0.0
        for j in range(w):
            d = rets[s, j] - mean
            cov += d * mkt[j]
            var += d * d
        den = math.sqrt(var * mss)
        corr = cov / den if den > 0.0 else 0.0
        rows[s, col] = min(max(corr, -1.0), 1.0)
        rows[s, col + 1] = sym_sum
        total += sym_sum
    avg = total / n
    for s in range(n):
        rows[s, col + 1] -= avg


@nb.njit(cache=True)
def market_rows(sym: np.ndarray, stats: np.ndarray, has_stats: bool, fund_s: np.ndarray, news_f: np.ndarray,
                news_i: np.ndarray, ind_f: np.ndarray, ind_i: np.ndarray, ind_buf: np.ndarray, ind_val: np.ndarray,
                hist: np.ndarray, hist_n: np.ndarray, rets: np.ndarray, cross_i: np.ndarray,
                prev_mid: np.ndarray, rows: np.ndarray) -> None:
    """Advance every symbol's market features to the current tick into ``rows (n, 35)``.

    Reads the quotes from the engine's ``sym`` array, fair values from the fundamentals'
    ``fund_s`` and the news from ``news_f``/``news_i``. ``stats[s] = (trades, volume, high,
    low)`` of the finished tick (ticks), used when ``has_stats``; the first tick's bar is
    the single mid.
    """
    _market_rows(sym, stats, has_stats, fund_s, news_f, news_i, ind_f, ind_i, ind_buf, ind_val, hist, hist_n, rets,
                 cross_i, prev_mid, rows, np.empty(max(SCRATCH, rets.shape[1])))


@_leaf
def _market_rows(sym: np.ndarray, stats: np.ndarray, has_stats: bool, fund_s: np.ndarray, news_f: np.ndarray,
                 news_i: np.ndarray, ind_f: np.ndarray, ind_i: np.ndarray, ind_buf: np.ndarray, ind_val: np.ndarray,
                 hist: np.ndarray, hist_n: np.ndarray, rets: np.ndarray, cross_i: np.ndarray,
                 prev_mid: np.ndarray, rows: np.ndarray, scratch: np.ndarray) -> None:
    """:func:`market_rows` with ``scratch`` of at least :data:`SCRATCH` and ``window`` floats."""
    n = rows.shape[0]
    for s in range(n):
        mid = sym[s, Y_MID2] / 200.0
        if has_stats:
            hi = stats[s, 2] / 100.0
            lo = stats[s, 3] / 100.0
            trades = float(stats[s, 0])
            volume = float(stats[s, 1])
        else:
            hi = lo = mid
            trades = volume = 0.0
        indicators_update(ind_f[s], ind_i[s], ind_buf[s], ind_val[s], mid, hi, lo, scratch)
        h = hist[s]
        k = hist_n[s]
        h[k % HISTORY] = mid
        k += 1
        hist_n[s] = k
        spread = sym[s, Y_SPREAD] / 100.0
        fv = fund_s[s, FS_FAIR]
        rem = news_i[s, NI_REMAINING]
        r = rows[s]
        r[0] = mid
        r[1] = spread
        r[2] = spread / mid * 1e4
        r[3] = (mid / _lag(h, k, 1) - 1.0) * 100.0 if 1 < k else _NAN
        r[4] = (mid / _lag(h, k, 5) - 1.0) * 100.0 if 5 < k else _NAN
        r[5] = (mid / _lag(h, k, 20) - 1.0) * 100.0 if 20 < k else _NAN
        r[6] = (mid / _lag(h, k, 100) - 1.0) * 100.0 if 100 < k else _NAN
        r[7] = math.log(mid / _lag(h, k, 1)) if 1 < k else _NAN
        r[8] = math.log(mid / _lag(h, k, 5)) if 5 < k else _NAN
        r[9] = math.log(mid / _lag(h, k, 20)) if 20 < k else _NAN
        for j in range(N_VALUES):
            r[10 + j] = ind_val[s, j]
        r[24] = fv
        r[25] = mid / fv
        r[26] = (mid - fv) / fv * 100.0
        r[27] = 1.0 if rem > 0 else 0.0
        r[28] = news_f[s, NF_SENTIMENT]
        r[29] = news_f[s, NF_MAGNITUDE]
        r[30] = float(rem)
        r[M1] = trades
        r[M1 + 1] = volume
    c = M1 + 2
    if cross_i[C_HAS_PREV]:
        j = cross_i[C_N_RETS] % CROSS_WINDOW
        for s in range(n):
            rets[s, j] = math.log((sym[s, Y_MID2] / 200.0) / prev_mid[s])
        cross_i[C_N_RETS] += 1
    for s in range(n):
        prev_mid[s] = sym[s, Y_MID2] / 200.0
    cross_i[C_HAS_PREV] = 1
    if cross_i[C_N_RETS] < CROSS_WINDOW:
        for s in range(n):
            rows[s, c] = _NAN
            rows[s, c + 1] = _NAN
    elif n == 1:
        rows[0, c] = 1.0
        rows[0, c + 1] = 0.0
    else:
        _cross_into(rets, rows, c, scratch[: rets.shape[1]])


# ---------------------------------------------------------------------------- agents
@_leaf
def risk_kernel(equity: np.ndarray, first: bool, n: int, prev: np.ndarray, peak: np.ndarray, max_dd: np.ndarray,
                mean: np.ndarray, m2: np.ndarray, sharpe: np.ndarray, vol: np.ndarray, sqrt_tpy: float) -> None:
    """One tick of every agent's running risk state (Welford mean and variance)."""
    nan = math.nan
    for i in range(equity.shape[0]):
        e = equity[i]
        if first:
            peak[i] = e
        else:
            p = prev[i]
            ret = (e - p) / max(abs(p), 1.0)
            delta = ret - mean[i]
            mean[i] += delta / n
            m2[i] += (ret - mean[i]) * delta
            if e > peak[i]:
                peak[i] = e
        prev[i] = e
        dd = (peak[i] - e) / max(peak[i], 1e-12)
        dd = min(max(dd, 0.0), 1.0)
        if dd > max_dd[i]:
            max_dd[i] = dd
        if n < 2:
            sharpe[i] = nan
            vol[i] = nan
        else:
            std = math.sqrt(m2[i] / (n - 1))
            sharpe[i] = mean[i] / std * sqrt_tpy if std > 0.0 else 0.0
            vol[i] = std * sqrt_tpy


@_leaf
def fill_kernel(rows: np.ndarray, symbols: np.ndarray, position: np.ndarray, position_limit: np.ndarray,
                cash: np.ndarray, initial_cash: np.ndarray, initial_equity: np.ndarray, equity: np.ndarray,
                max_drawdown: np.ndarray, sharpe: np.ndarray, volatility: np.ndarray, out: np.ndarray) -> None:
    """Assemble each agent's 45 features from its symbol's row and its account and risk."""
    for i in range(position.shape[0]):
        row = rows[symbols[i]]
        o = out[i]
        for j in range(M1):
            o[j] = row[j]
        pnl = equity[i] - initial_equity[i]
        o[A0] = position[i]
        o[A0 + 1] = position[i] / position_limit[i]
        o[A0 + 2] = cash[i]
        o[A0 + 3] = cash[i] / initial_cash[i]
        o[A0 + 4] = pnl
        o[A0 + 5] = pnl / initial_cash[i] * 100.0
        o[A0 + 6] = equity[i]
        o[A0 + 7] = max_drawdown[i]
        o[A0 + 8] = sharpe[i]
        o[A0 + 9] = volatility[i]
        for j in range(ROW - M1):
            o[X0 + j] = row[M1 + j]


@_leaf
def account_arrays(cash_cents: np.ndarray, position_flat: np.ndarray, flat: np.ndarray, mid2: np.ndarray,
                   pos: np.ndarray, cash: np.ndarray, equity: np.ndarray) -> None:
    """Position in each agent's symbol, cash and equity (currency units) as floats.

    Equity is ``(cash_cents + sum_s position * mid2 / 2) / 100``; the sums are exact
    (integer-valued floats far below 2**53), so their order does not matter.
    """
    n = cash_cents.shape[0]
    n_sym = mid2.shape[0]
    for i in range(n):
        pos[i] = float(position_flat[flat[i]])
        cash[i] = cash_cents[i] / 100.0
        if n_sym == 1:
            equity[i] = cash[i] + pos[i] * (mid2[0] / 200.0)
        else:
            acc = 0.0
            for s in range(n_sym):
                acc += float(position_flat[i * n_sym + s]) * float(mid2[s])
            equity[i] = (float(cash_cents[i]) + acc / 2.0) / 100.0


@_leaf
def agents_step(rows: np.ndarray, cash_cents: np.ndarray, position_flat: np.ndarray, mid2: np.ndarray,
                flat: np.ndarray, symbols: np.ndarray, position_limit: np.ndarray, safe_cash: np.ndarray,
                initial_equity: np.ndarray, risk: np.ndarray, risk_i: np.ndarray, pos: np.ndarray,
                cash: np.ndarray, equity: np.ndarray, obs: np.ndarray, sqrt_tpy: float) -> None:
    """Every agent's part of a tick's features: accounts, risk update, then the 45 features.

    ``risk`` is ``(N_RISK, n_agents)``, ``risk_i = [equities fed, returns seen]``; ``pos``,
    ``cash`` and ``equity`` receive the account floats, ``obs`` the feature vectors.
    """
    account_arrays(cash_cents, position_flat, flat, mid2, pos, cash, equity)
    first = risk_i[0] == 0
    if not first:
        risk_i[1] += 1
    risk_i[0] += 1
    risk_kernel(equity, first, risk_i[1], risk[R_PREV], risk[R_PEAK], risk[R_MAX_DD], risk[R_MEAN], risk[R_M2],
                risk[R_SHARPE], risk[R_VOL], sqrt_tpy)
    fill_kernel(rows, symbols, pos, position_limit, cash, safe_cash, initial_equity, equity, risk[R_MAX_DD],
                risk[R_SHARPE], risk[R_VOL], obs)
