"""The compiled half of :meth:`recorders.recording_wrapper.TransitionRecorder.commit`.

One kernel writes a transition's outcome columns for the recorded agents straight into the
staging block, with the definitions of :class:`marketenv.simulation.Transition` (fill
VWAPs by :func:`marketenv.engine.kernels.vwap_of`; fees and trade ranges in
currency units; reward = equity after minus before, and divided by the agent's initial
cash). The NumPy path in ``commit`` computes the same columns from the transition's
properties; ``tests/test_recording.py`` holds the two to each other.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from marketenv.engine.kernels import vwap_of


@nb.njit(cache=True)
def stage_outcomes(
    out: np.ndarray, action_out: np.ndarray, agent_out: np.ndarray, rows: np.ndarray, ids: np.ndarray,
    action: np.ndarray, qty: np.ndarray, price: np.ndarray, buy_q: np.ndarray, sell_q: np.ndarray,
    buy_c: np.ndarray, sell_c: np.ndarray, fee_c: np.ndarray, low: np.ndarray, high: np.ndarray,
    sym: np.ndarray, eq_before: np.ndarray, eq_after: np.ndarray, norm: np.ndarray, obs_after: np.ndarray,
    next_cols: np.ndarray,
) -> None:
    """Fill ``out[j]`` (the float64 outcome columns), ``action_out[j]`` and ``agent_out[j]``
    for each recorded agent ``rows[j]``."""
    nan = math.nan
    for j in range(rows.shape[0]):
        i = rows[j]
        o = out[j]
        action_out[j] = action[i]
        agent_out[j] = ids[i]
        bq = buy_q[i]
        sq = sell_q[i]
        o[0] = qty[i]
        o[1] = price[i]
        o[2] = float(bq - sq)
        o[3] = vwap_of(buy_c[i] + sell_c[i], bq + sq)
        o[4] = float(bq)
        o[5] = vwap_of(buy_c[i], bq)
        o[6] = float(sq)
        o[7] = vwap_of(sell_c[i], sq)
        o[8] = fee_c[i] / 100.0
        s = sym[i]
        o[9] = low[s] / 100.0 if low[s] >= 0 else nan
        o[10] = high[s] / 100.0 if high[s] >= 0 else nan
        r = eq_after[i] - eq_before[i]
        o[11] = r
        o[12] = r / norm[i]
        for c in range(next_cols.shape[0]):
            o[13 + c] = obs_after[i, next_cols[c]]
