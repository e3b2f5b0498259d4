"""Compiled steps of the exogenous processes: the fair-value diffusion and the news.

:class:`marketenv.fundamentals.Fundamentals` and :class:`marketenv.news.NewsGenerator`
keep their state in the arrays these kernels advance, so the Python classes and the
compiled tick loop run one implementation. Random numbers come from each process's own
``numpy.random.Generator``, drawn by the caller (one call per tick, or blocks of ticks
that give the same stream: :func:`draw_news`). Transcendental functions are the C
library's scalar ones (``math.exp``), so results do not depend on which SIMD variant NumPy
picks on a given CPU.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

# Fundamentals scalars and per-symbol columns.
F_LOG_REGIME, F_PHI, F_REGIME_STEP, F_VOL_OF_VOL, F_COMMON, F_OWN = range(6)
N_FUND = 6
FS_LOG_EARNINGS, FS_SIGMA, FS_SCALE, FS_FAIR = range(4)
N_FUND_SYM = 4

# News parameters, per-symbol float and int columns.
NC_RATE, NC_MIN_DURATION, NC_MAX_DURATION, NC_DURATION_TAIL, NC_IMPACT, NC_JUMP_TAIL, NC_ATTENTION = range(7)
N_NEWS_PARAMS = 7
NF_SENTIMENT, NF_MAGNITUDE, NF_JUMP, NF_ATTENTION = range(4)
N_NEWS_F = 4
NI_REMAINING, NI_DURATION, NI_STARTED = range(3)
N_NEWS_I = 3


@nb.njit(cache=True, _nrt=False)  # no allocation: no reference counting
def fundamentals_step(z: np.ndarray, f: np.ndarray, fs: np.ndarray, news_f: np.ndarray) -> None:
    """Advance the volatility regime and every symbol's log earnings by one tick.

    ``z`` is the tick's ``n_symbols + 2`` standard normals: the regime's, the common
    factor's, then one per symbol. Jumps and attention are the news columns of this tick.
    """
    n = fs.shape[0]
    z0 = z[0]
    z1 = z[1]
    lr = f[F_PHI] * f[F_LOG_REGIME] + f[F_REGIME_STEP] * z0
    f[F_LOG_REGIME] = lr
    vov = f[F_VOL_OF_VOL]
    regime = math.exp(lr - vov * vov)
    for s in range(n):
        zs = z[2 + s]
        sd = fs[s, FS_SIGMA] * (regime * news_f[s, NF_ATTENTION])
        shock = f[F_COMMON] * z1 + f[F_OWN] * zs
        le = fs[s, FS_LOG_EARNINGS] + (sd * shock - 0.5 * sd * sd + news_f[s, NF_JUMP])
        fs[s, FS_LOG_EARNINGS] = le
        fs[s, FS_FAIR] = math.exp(le) * fs[s, FS_SCALE]


@nb.njit(cache=True, _nrt=False)  # no allocation: no reference counting
def news_step(u: np.ndarray, t: np.ndarray, c: np.ndarray, nf: np.ndarray, ni: np.ndarray) -> None:
    """Advance every symbol's news by one tick from its ``4 * n`` uniforms ``u`` and ``n``
    Student-t draws ``t`` (drawn in that order).

    An active event ages by one tick; a symbol with none starts one with probability
    ``rate``: sentiment uniform in [-1, 1), magnitude uniform in [0, 1), a Pareto duration,
    and a log-earnings jump ``impact * sentiment * magnitude * |t|``. Attention is
    ``1 + attention * magnitude``.
    """
    n = nf.shape[0]
    for s in range(n):
        nf[s, NF_JUMP] = 0.0
        if ni[s, NI_REMAINING] > 0:
            ni[s, NI_REMAINING] -= 1
        if ni[s, NI_REMAINING] == 0:
            if u[4 * s] < c[NC_RATE]:
                d = c[NC_MIN_DURATION] * (1.0 - u[4 * s + 3]) ** (-1.0 / c[NC_DURATION_TAIL])
                dur = int(min(d, c[NC_MAX_DURATION]))
                sentiment = 2.0 * u[4 * s + 1] - 1.0
                magnitude = u[4 * s + 2]
                nf[s, NF_SENTIMENT] = sentiment
                nf[s, NF_MAGNITUDE] = magnitude
                ni[s, NI_DURATION] = dur
                ni[s, NI_REMAINING] = dur
                ni[s, NI_STARTED] += 1
                nf[s, NF_JUMP] = c[NC_IMPACT] * sentiment * magnitude * abs(t[s])
            else:
                nf[s, NF_SENTIMENT] = 0.0
                nf[s, NF_MAGNITUDE] = 0.0
                ni[s, NI_DURATION] = 0
        nf[s, NF_ATTENTION] = 1.0 + c[NC_ATTENTION] * nf[s, NF_MAGNITUDE]


@nb.njit(cache=True)
def _draw_news(rng: np.random.Generator, ticks: int, n: int, df: float) -> tuple[np.ndarray, np.ndarray]:
    u = np.empty((ticks, 4 * n))
    t = np.empty((ticks, n))
    for k in range(ticks):
        for i in range(4 * n):
            u[k, i] = rng.random()
        for s in range(n):
            t[k, s] = rng.standard_t(df)
    return u, t


def draw_news(rng: np.random.Generator, ticks: int, n: int, df: float) -> tuple[np.ndarray, np.ndarray]:
    """The news draws of ``ticks`` ticks, ``(u (ticks, 4n), t (ticks, n))``: each tick's
    ``rng.random(4n)`` then ``rng.standard_t(df, n)``, the stream :meth:`NewsGenerator.step`
    draws tick by tick."""
    if ticks < 16:  # handing a Generator to numba costs about as much as 20 NumPy calls
        u = np.empty((ticks, 4 * n))
        t = np.empty((ticks, n))
        for k in range(ticks):
            u[k] = rng.random(4 * n)
            t[k] = rng.standard_t(df, n)
        return u, t
    return _draw_news(rng, ticks, n, df)
