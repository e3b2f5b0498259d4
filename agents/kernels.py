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

Parameter layouts (``P = 8`` floats):

* market maker: ``half_spread_ticks, jitter, quote_size, fair_weight, inventory_skew,
  refresh, position_limit``;
* noise trader: ``activity, quantity, market_prob, max_offset_ticks, cross_ticks,
  position_limit``;
* signal strategies: ``activity, quantity, limit, action_type, aggression_ticks, column,
  threshold, margin`` (``column`` is the feature index momentum reads).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from marketenv.actions import LIMIT, MARKET, MAX_OFFSET
from marketenv.feature_spec import FEATURE_INDEX as F

N_UNIFORMS = 5
N_PARAMS = 8

MARKET_MAKER, NOISE, MOMENTUM, TREND, MEAN_REVERSION, VALUE, MACD = range(7)

_MID = F["mid_price"]
_FAIR = F["fair_value"]
_POS = F["position"]
_SMA10 = F["sma_10"]
_SMA50 = F["sma_50"]
_PB = F["bb_percent_b"]
_DEV = F["fair_value_deviation"]
_HIST = F["macd_histogram"]


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


@nb.njit(cache=True)
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
            fair = row[_FAIR]
            if ui[0] >= p[5] or not math.isfinite(fair):
                continue
            lim = p[6]
            center = (mid + p[3] * (fair - mid)) * 100.0 - p[4] * pos / lim
            half = p[0] * (1.0 + p[1] * ui[1]) if p[1] > 0 else p[0]
            bid = max(math.floor(center - half), 1.0)
            ask = max(math.ceil(center + half), bid + 1.0)
            o[0] = LIMIT
            o[1] = int(min(max(lim - pos, 0.0), p[2]))
            o[2] = int(min(max(bid - ref, -MAX_OFFSET), MAX_OFFSET))
            o[3] = LIMIT
            o[4] = int(min(max(lim + pos, 0.0), p[2]))
            o[5] = int(min(max(ask - ref, -MAX_OFFSET), MAX_OFFSET))
        elif k == NOISE:
            if ui[0] >= p[0]:
                continue
            side = 1 if ui[1] < 0.5 else -1
            qty = math.floor(ui[2] * p[1]) + 1.0
            if ui[3] < p[2]:
                _orders(side, qty, pos, p[5], MARKET, 0, odd, o)
            else:
                span = p[3] + p[4] + 1.0
                offset = int(math.floor(ui[4] * span) - p[3])
                _orders(side, qty, pos, p[5], LIMIT, offset, odd, o)
        else:
            thr = p[6]
            if k == MOMENTUM:
                sig = _threshold(row[int(p[5])], thr, -thr)
            elif k == TREND:
                sig = _threshold((row[_SMA10] / row[_SMA50] - 1.0) * 100.0, thr, -thr)
            elif k == MEAN_REVERSION:
                sig = -_threshold(row[_PB], 1.0 + p[7], -p[7])
            elif k == VALUE:
                sig = -_threshold(row[_DEV], thr, -thr)
            else:  # MACD
                sig = _threshold(row[_HIST], thr, -thr)
            if ui[0] >= p[0]:
                continue
            qty = math.floor(ui[1] * p[1]) + 1.0
            _orders(sig, qty, pos, p[2], int(p[3]), int(p[4]), odd, o)


@nb.njit(cache=True)
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
        if u[i, 0] >= params[0]:
            continue
        mid2 = math.floor(mid * 200.0 + 0.5)
        odd = int(mid2 - 2.0 * math.floor(mid2 / 2.0))
        qty = math.floor(u[i, 1] * params[1]) + 1.0
        _orders(int(sig[i]), qty, pos, params[2], int(params[3]), int(params[4]), odd, o)


def warm_up() -> None:
    """Compile (or load from cache) the kernel now rather than inside the first tick."""
    decide(
        np.zeros((1, len(F))),
        np.ones((1, N_UNIFORMS)),
        np.zeros(1, dtype=np.int64),
        np.zeros((1, N_PARAMS)),
        np.zeros((1, 6), dtype=np.int64),
    )
