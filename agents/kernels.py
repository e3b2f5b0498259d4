"""The rule-based strategies' decision rules, compiled with numba.

Why numba: a profile of the default 50-agent market showed the crowd's decisions
(~110 small numpy calls per tick, ~130 us) as the largest cost of a tick. The rules are
scalar per agent, so one compiled loop over all agents does the same in a few
microseconds. Each agent's single :meth:`~agents.base.RuleBasedAgent.predict` runs the
very same compiled function on one row, so a crowd and its agents driven one by one act
identically.

Every strategy reads its observation row (the ComprehensiveFeatures vector), its
``N_UNIFORMS`` uniforms for the tick, and a packed parameter vector (layouts below, written
by each strategy's ``pack``), and writes a flattened order action of 6 ints
``[buy_type, buy_qty, buy_offset, sell_type, sell_qty, sell_offset]``.

Prices are symmetric about the mid. Offsets in an action are relative to the market's
reference ``floor(mid)``, which lies half a tick below a half-tick mid; a rule written as
"reference +/- k" would therefore put sells one tick more aggressive than buys and push
the price down (measured: mids 4-6 ticks below fair value and market makers
accumulating long inventory). So a buy "``k`` ticks through" is priced at
``floor(mid + k)`` and a sell at ``ceil(mid - k)``.

An agent whose mid or position is not finite holds; a signal that is NaN (warm-up) holds.

Parameter layouts (``P = N_PARAMS`` floats; the named index constants below are the
only way the kernel reads them, and each strategy's ``pack`` writes them by name):

* market maker (``MM_*``): half spread, jitter, quote size, fair weight, inventory skew,
  refresh probability, position limit, volatility widening, peg;
* noise trader (``NT_*``): activity, largest quantity, market-order probability, limit
  offsets behind and through the mid, position limit, size tail, news attention,
  volatility feedback and its reference ATR;
* signal strategies (``SG_*``): activity, quantity, limit, action type, aggression,
  feature column (momentum), threshold, band margin (mean reversion), private value
  noise (value traders).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from marketenv.actions import CANCEL, LIMIT, MARKET, MAX_OFFSET, PEG
from marketenv.feature_spec import FEATURE_INDEX as F

N_UNIFORMS = 5
N_PARAMS = 12

# Market maker parameter slots.
MM_HALF_SPREAD, MM_JITTER, MM_SIZE, MM_FAIR_WEIGHT, MM_SKEW, MM_REFRESH, MM_LIMIT, MM_VOL_WIDEN, MM_PEG = range(9)
# Noise trader parameter slots.
(
    NT_ACTIVITY, NT_QUANTITY, NT_MARKET_PROB, NT_MAX_OFFSET, NT_CROSS, NT_LIMIT, NT_SIZE_TAIL,
    NT_NEWS_ATTENTION, NT_VOL_FEEDBACK, NT_VOL_REF,
) = range(10)
# Signal strategy parameter slots.
(
    SG_ACTIVITY, SG_QUANTITY, SG_LIMIT, SG_TYPE, SG_AGGRESSION, SG_COLUMN, SG_THRESHOLD, SG_MARGIN,
    SG_VALUE_NOISE,
) = range(9)

MARKET_MAKER, NOISE, MOMENTUM, TREND, MEAN_REVERSION, VALUE, MACD = range(7)

_MID = F["mid_price"]
_FAIR = F["fair_value"]
_POS = F["position"]
_SMA10 = F["sma_10"]
_SMA50 = F["sma_50"]
_PB = F["bb_percent_b"]
_DEV = F["fair_value_deviation"]
_HIST = F["macd_histogram"]
_ATR = F["atr_14"]
_NEWS_MAG = F["news_magnitude"]


@nb.njit(cache=True, inline="always")
def _orders(
    sig: int, qty: float, pos: float, limit: float, otype: int, aggr: int, odd: int, out: np.ndarray
) -> None:
    """Write a one-sided order for a signal, capped by the position limit.

    The price is symmetric about the mid: a buy at ``floor(mid + aggr)``, a sell at
    ``ceil(mid - aggr)`` (ticks). As an offset from the reference ``floor(mid)`` that is
    ``+aggr`` for a buy and ``odd - aggr`` for a sell, where ``odd`` is 1 when the mid sits
    on a half tick. Market orders carry offset 0 (the price is ignored).
    """
    if sig == 0:
        return
    room = limit - pos if sig > 0 else limit + pos
    q = min(qty, room)
    if q <= 0:
        return
    if sig > 0:
        out[0] = otype
        out[1] = int(q)
        out[2] = aggr if otype != MARKET else 0
    else:
        out[3] = otype
        out[4] = int(q)
        out[5] = odd - aggr if otype != MARKET else 0


@nb.njit(cache=True, inline="always")
def _threshold(x: float, upper: float, lower: float) -> int:
    """+1 above ``upper``, -1 below ``lower``, 0 otherwise (and for NaN)."""
    if x > upper:
        return 1
    if x < lower:
        return -1
    return 0


@nb.njit(cache=True, _nrt=False)  # no allocation; without reference counting of the row views (~3x faster)
def decide(obs: np.ndarray, u: np.ndarray, kinds: np.ndarray, params: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out (n, 6)`` with the actions of ``n`` rule-based agents.

    An agent whose inputs are not finite (a NaN feature during warm-up, or a malformed
    observation) holds.

    Args:
        obs: ``(n, F)`` observations.
        u: ``(n, N_UNIFORMS)`` uniforms of this tick.
        kinds: ``(n,)`` strategy codes.
        params: ``(n, N_PARAMS)`` packed parameters.
        out: ``(n, 6)`` int64, overwritten.
    """
    n = obs.shape[0]
    for i in range(n):
        o = out[i]
        for j in range(6):
            o[j] = 0
        row = obs[i]
        ui = u[i]
        p = params[i]
        k = kinds[i]
        pos = row[_POS]
        mid = row[_MID]
        if not (math.isfinite(pos) and math.isfinite(mid) and mid > 0.0):
            continue
        mid2 = math.floor(mid * 200.0 + 0.5)  # twice the mid in ticks (an integer)
        ref = math.floor(mid2 / 2.0)  # the market's reference price, floor(mid)
        odd = int(mid2 - 2.0 * ref)  # 1 when the mid is on a half tick
        if k == MARKET_MAKER:
            _maker(row, ui, p, pos, mid, ref, o)
        elif k == NOISE:
            _noise(row, ui, p, pos, odd, o)
        else:
            if ui[0] >= p[SG_ACTIVITY]:  # inactive: no need for the signal (it draws nothing)
                continue
            thr = p[SG_THRESHOLD]
            if k == MOMENTUM:
                sig = _threshold(row[int(p[SG_COLUMN])], thr, -thr)
            elif k == TREND:
                sig = _threshold((row[_SMA10] / row[_SMA50] - 1.0) * 100.0, thr, -thr)
            elif k == MEAN_REVERSION:
                sig = -_threshold(row[_PB], 1.0 + p[SG_MARGIN], -p[SG_MARGIN])
            elif k == VALUE:
                sig = -_threshold(_private_deviation(row, ui, p[SG_VALUE_NOISE]), thr, -thr)
            else:  # MACD
                sig = _threshold(row[_HIST], thr, -thr)
            qty = math.floor(ui[1] * p[SG_QUANTITY]) + 1.0
            _orders(sig, qty, pos, p[SG_LIMIT], int(p[SG_TYPE]), int(p[SG_AGGRESSION]), odd, o)


@nb.njit(cache=True, inline="always")
def _maker(
    row: np.ndarray, ui: np.ndarray, p: np.ndarray, pos: float, mid: float, ref: float, o: np.ndarray
) -> None:
    """Two-sided quotes around ``mid + fair_weight * (fair - mid)``, skewed by inventory.

    The centre (ticks) moves ``-inventory_skew * position / limit``, is rounded to the
    half tick, and the quotes sit ``half_spread + vol_widening * atr_14`` ticks either side
    (bid rounded down, ask up), pegged to the fair value if ``peg``. At the position limit
    the side that would grow the position is cancelled and the other side keeps quoting.
    """
    fair = row[_FAIR]
    if ui[0] >= p[MM_REFRESH] or not math.isfinite(fair):
        return
    lim = p[MM_LIMIT]
    center = (mid + p[MM_FAIR_WEIGHT] * (fair - mid)) * 100.0 - p[MM_SKEW] * pos / lim
    half = p[MM_HALF_SPREAD] * (1.0 + p[MM_JITTER] * ui[1]) if p[MM_JITTER] > 0 else p[MM_HALF_SPREAD]
    atr = row[_ATR]
    if p[MM_VOL_WIDEN] > 0 and math.isfinite(atr):
        half += p[MM_VOL_WIDEN] * atr * 100.0
    c = math.floor(2.0 * center + 0.5) / 2.0
    bid = max(math.floor(c - half), 1.0)
    ask = max(math.ceil(c + half), bid + 1.0)
    buy = min(max(lim - pos, 0.0), p[MM_SIZE])
    sell = min(max(lim + pos, 0.0), p[MM_SIZE])
    kind = PEG if p[MM_PEG] > 0 else LIMIT
    if buy >= 1:
        o[0] = kind
        o[1] = int(buy)
        o[2] = int(min(max(bid - ref, -MAX_OFFSET), MAX_OFFSET))
    else:
        o[0] = CANCEL
    if sell >= 1:
        o[3] = kind
        o[4] = int(sell)
        o[5] = int(min(max(ask - ref, -MAX_OFFSET), MAX_OFFSET))
    else:
        o[3] = CANCEL


@nb.njit(cache=True, inline="always")
def _noise(row: np.ndarray, ui: np.ndarray, p: np.ndarray, pos: float, odd: int, o: np.ndarray) -> None:
    """A random order; activity rises with news attention and recent volatility."""
    act = p[NT_ACTIVITY] * (1.0 + p[NT_NEWS_ATTENTION] * row[_NEWS_MAG])
    atr = row[_ATR]
    if p[NT_VOL_FEEDBACK] > 0 and math.isfinite(atr) and p[NT_VOL_REF] > 0:
        ratio = min(max(atr * 100.0 / p[NT_VOL_REF], 0.25), 4.0)
        feedback = p[NT_VOL_FEEDBACK]
        act *= ratio if feedback == 1.0 else ratio ** feedback  # the default 1: pow(x, 1) is x, exactly
    if ui[0] >= act:
        return
    side = 1 if ui[1] < 0.5 else -1
    if p[NT_SIZE_TAIL] > 0:
        qty = min(math.floor((1.0 - ui[2]) ** (-1.0 / p[NT_SIZE_TAIL])), p[NT_QUANTITY])
    else:
        qty = math.floor(ui[2] * p[NT_QUANTITY]) + 1.0
    if ui[3] < p[NT_MARKET_PROB]:
        _orders(side, qty, pos, p[NT_LIMIT], MARKET, 0, odd, o)
    else:
        span = p[NT_MAX_OFFSET] + p[NT_CROSS] + 1.0
        offset = int(math.floor(ui[4] * span) - p[NT_MAX_OFFSET])
        _orders(side, qty, pos, p[NT_LIMIT], LIMIT, offset, odd, o)


@nb.njit(cache=True, inline="always")
def _private_deviation(row: np.ndarray, ui: np.ndarray, noise: float) -> float:
    """Percent deviation of the mid from a private, noisy estimate of the fair value.

    The estimate is ``fair * (1 + noise * z)`` with ``z`` standard normal drawn from the
    agent's own uniforms (Box-Muller on its 3rd and 4th), fresh every tick.
    """
    fair = row[_FAIR]
    if noise > 0:
        z = math.sqrt(-2.0 * math.log(1.0 - ui[2])) * math.cos(2.0 * math.pi * ui[3])
        fair *= 1.0 + noise * z
    if not fair > 0:
        return math.nan
    return (row[_MID] - fair) / fair * 100.0


@nb.njit(cache=True, _nrt=False)
def signal_actions(obs: np.ndarray, u: np.ndarray, sig: np.ndarray, params: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out (n, 6)`` from signals computed elsewhere (model-driven agents).

    The same sizing, capping and pricing as the compiled signal strategies: act with
    probability ``activity``, a size uniform in ``1..quantity``, capped by the limit,
    priced ``aggression_ticks`` through the mid. ``params`` is one packed signal-strategy
    vector shared by all ``n`` agents.
    """
    for i in range(obs.shape[0]):
        o = out[i]
        for j in range(6):
            o[j] = 0
        row = obs[i]
        pos = row[_POS]
        mid = row[_MID]
        if not (math.isfinite(pos) and math.isfinite(mid) and mid > 0.0):
            continue
        if u[i, 0] >= params[SG_ACTIVITY]:
            continue
        mid2 = math.floor(mid * 200.0 + 0.5)
        odd = int(mid2 - 2.0 * math.floor(mid2 / 2.0))
        qty = math.floor(u[i, 1] * params[SG_QUANTITY]) + 1.0
        _orders(
            int(sig[i]), qty, pos, params[SG_LIMIT], int(params[SG_TYPE]), int(params[SG_AGGRESSION]), odd, o
        )


@nb.njit(cache=True, _nrt=False)
def tick_major(src: np.ndarray, dst: np.ndarray) -> None:
    """Copy agent-major uniforms ``src (n, ticks, d)`` into tick-major ``dst (ticks, n, d)``."""
    for t in range(dst.shape[0]):
        for i in range(dst.shape[1]):
            for k in range(dst.shape[2]):
                dst[t, i, k] = src[i, t, k]


def packed(slots: dict[int, float]) -> list[float]:
    """A parameter vector of length :data:`N_PARAMS` with the given named slots set."""
    out = [0.0] * N_PARAMS
    for k, v in slots.items():
        out[k] = float(v)
    return out


def warm_up() -> None:
    """Compile (or load from cache) the kernel now rather than inside the first tick."""
    decide(
        np.zeros((1, len(F))),
        np.ones((1, N_UNIFORMS)),
        np.zeros(1, dtype=np.int64),
        np.zeros((1, N_PARAMS)),
        np.zeros((1, 6), dtype=np.int64),
    )
