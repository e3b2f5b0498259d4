"""Verify a feature recording against the design note's checklist.

``python -m recorders.check FILE`` (or ``marketenv check FILE``) prints a checklist and
exits 0 if every check passed, 1 if one failed and 2 if the file cannot be read. A market
table or a sweep's dataset folder is checked by :mod:`recorders.check_dataset`.

The file is streamed batch by batch (one row group at a time), so a recording of tens of
millions of rows is checked in bounded memory; the temporal checks carry the last row of
every (agent, symbol) pair from one batch to the next. The checks:

1. ``schema``: column names, order and types exactly as :func:`recorders.schema.build_schema`
   makes them, and the ``marketenv.*`` metadata present and well formed.
2. ``warmup``: no row before the recording's ``warmup`` tick.
3. ``interval``: every tick is ``warmup + k * interval``, none missing in between, ticks
   nondecreasing, rows ordered by (tick, agent_id), no duplicate (tick, agent, symbol).
4. ``feature_ranges``: RSI in [0, 100], spread >= 0, mid > 0, drawdown in [0, 1], news
   fields in range, normalised position in [-1, 1], no infinity anywhere.
5. ``action_encoding``: action in {-1, 0, 1}, ``action_quantity >= 0`` (and > 0 for a buy or
   sell), a hold (net quantity 0, e.g. a two-sided quote) has no limit price, prices > 0,
   ``fill_price`` is NaN exactly when nothing filled (neither side).
6. ``reward``: ``reward == next_pnl - f_total_pnl`` == the change of cash + position * mid;
   ``next_position == f_position + fill_quantity``; equity identities; ``reward_normalized``
   == ``reward / initial_cash`` (``initial_cash = f_cash / f_cash_normalized``).
7. ``temporal``: for rows of one (agent, symbol) one tick apart, ``next_mid_price``,
   ``next_position``, ``next_pnl`` and ``next_cash`` equal the next row's ``f_mid_price``,
   ``f_position``, ``f_total_pnl`` and ``f_cash`` (not applicable when ``interval > 1``).
8. ``nan_policy``: a feature of :data:`marketenv.feature_spec.NAN_UNTIL` is NaN only before
   its tick; other features never; outcomes only the prices of :data:`NAN_ALLOWED_OUTCOMES`; no
   nulls at all.
9. ``fills``: ``fill_quantity = fill_buy_quantity - fill_sell_quantity``; each side's
   price is NaN exactly when that side did not trade; ``fill_price`` is the VWAP of both
   sides; ``fees >= 0``; the cash identity ``next_cash - f_cash = fill_sell_quantity *
   fill_sell_price - fill_buy_quantity * fill_buy_price - fees``; and every fill price
   lies inside the tick's traded range ``[tick_trade_low, tick_trade_high]``.

Money comes from integer cents, so equalities hold to ``1e-6 + 1e-9 * scale`` where
``scale`` is the sum of the magnitudes of the terms compared.

Modules: :mod:`~recorders.check.stream` (reading the file in batches),
:mod:`~recorders.check.rules` (the checks), :mod:`~recorders.check.report` (results and
the checklist), :mod:`~recorders.check.recording` (:func:`check_recording`) and
:mod:`~recorders.check.cli` (the command and its exit codes).
"""

from __future__ import annotations

from recorders.check.cli import main
from recorders.check.recording import check_recording
from recorders.check.report import CHECKS, CheckReport, CheckResult
from recorders.check.rules import ABS_TOL, REL_TOL
from recorders.check.stream import BATCH_ROWS

__all__ = [
    "ABS_TOL",
    "BATCH_ROWS",
    "CHECKS",
    "REL_TOL",
    "CheckReport",
    "CheckResult",
    "check_recording",
    "main",
]
