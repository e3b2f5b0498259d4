"""Many markets stepped together: one compiled call runs a tick of each.

:class:`MarketBatch` holds ``N`` compiled simulations of one config, each with the same
learner slots, and runs the env step (``Simulation.step({learner: action, ...})``) of all
of them in one call of the crowd's batched kernel, without returning to Python between
markets. It is the fast path of :class:`~marketenv.env.MarketEnv` (``N = 1``) and of
:class:`~marketenv.vector_env.MarketVectorEnv`; the results are those of
:meth:`~marketenv.simulation.Simulation.step`, tick for tick (a differential test checks).

The kernel works on the simulations' own arrays, so between a batch step and the next
use of a simulation from Python call :meth:`MarketBatch.refresh` (its ``obs``,
``equity`` and ``last_trades`` are stale until then).
"""

from __future__ import annotations

import functools
import importlib
import os
import time
from collections.abc import Sequence
from typing import Literal

import numba as nb
import numpy as np
from numba.typed import List

from marketenv.engine.layout import (
    N_OUTCOME,
    NEED_DRAWS,
    NEED_SLOTS,
    NEED_SYNC,
    STEP_GREW,
    STEP_IDLE,
)
from marketenv.errors import ConfigError, ResetNeeded, reraise_interrupt
from marketenv.feature_spec import N_FEATURES
from marketenv.simulation import Simulation, Transition

__all__ = ["N_FILL", "MarketBatch", "Parallel", "check_parallel"]

Parallel = bool | Literal["auto"]
"""How a batch runs its markets: ``False`` one after another, ``True`` on numba's threads,
``"auto"`` whichever of the two is faster at the time (see :class:`MarketBatch`)."""

_CHUNK = 4
"""Markets a thread takes at a time with ``parallel`` (numba's default is one fixed share per thread)."""

_PROBES = 3
"""Timed steps of each kernel in a comparison of ``parallel="auto"``."""

_KEEP = 500
"""Steps ``parallel="auto"`` keeps a new choice before it compares the kernels again."""

_KEEP_MAX = 8_000
"""The most steps it keeps a choice (the interval doubles each time a comparison confirms it)."""

_threads_pid: int | None = None
"""The process that started numba's threads through a batch (GNU OpenMP is not fork-safe)."""

N_FILL = 5
"""Fill columns per learner: bought shares, sold shares, bought cents, sold cents, fees (cents)."""


def check_parallel(parallel: object) -> Parallel:
    """``parallel`` if it is ``True``, ``False`` or ``"auto"``.

    Raises:
        ConfigError: It is anything else.
    """
    if isinstance(parallel, bool | np.bool_):
        return bool(parallel)
    if isinstance(parallel, str) and parallel == "auto":
        return "auto"
    raise ConfigError(f"parallel must be True, False or 'auto' (got {parallel!r}); pass parallel='auto'")


@functools.cache
def _safe_thread_pool() -> bool:
    """Whether numba will run ``parallel`` kernels on TBB or OpenMP. Its fallback, the
    workqueue layer, aborts the process when two Python threads launch kernels at once."""
    layer = nb.config.THREADING_LAYER
    if layer == "workqueue":
        return False
    pools = {"omp": ("omppool",), "tbb": ("tbbpool",), "safe": ("tbbpool",), "forksafe": ("tbbpool",)}.get(
        layer, ("tbbpool", "omppool"))  # "default", "threadsafe": TBB, else OpenMP
    for pool in pools:
        try:
            importlib.import_module(f"numba.np.ufunc.{pool}")
        except ImportError:  # e.g. no libtbb
            continue
        return True
    return False


def threads_usable(n_markets: int) -> bool:
    """Whether spreading ``n_markets`` over numba's threads can pay here and now.

    No when numba has one thread or this process may use one core, when there are fewer
    than two chunks of markets per thread, when numba's threads would be its workqueue
    layer (not safe with Python threads), or in a process forked from one whose batch
    started the threads (GNU OpenMP would abort it).
    """
    threads = nb.get_num_threads()
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    forked = _threads_pid is not None and _threads_pid != os.getpid()
    return min(threads, cores) >= 2 and n_markets >= 2 * _CHUNK * threads and not forked and _safe_thread_pool()


class MarketBatch:
    """``n_markets`` compiled simulations of one config stepped together.

    Args:
        n_markets: Number of markets (>= 1).
        learners: The agent ids whose actions the caller gives (the same in every market).
        keep_before: Keep every agent's observations and equities before each tick, so
            that :meth:`transition` can rebuild the whole tick afterwards.
        parallel: ``True`` spreads the markets over numba's threads (``NUMBA_NUM_THREADS``,
            by default one per core), ``False`` runs them one after another. Results are
            the same either way: threads pay when the cores are otherwise idle, and cost
            when other processes keep them busy. ``"auto"`` times three steps of each
            after 500 steps, then less and less often while the choice holds (at most
            every 8,000), and runs the faster; it stays serial where threads cannot pay
            (see :func:`threads_usable`).

    Attributes:
        equity_before: ``(N, k)`` each learner's equity before the last step (currency units).
        equity_after: ``(N, k)`` its equity after it.
        fills: ``(N, k, N_FILL)`` int64 its fills in the last step (columns of :data:`N_FILL`).
        outcomes: ``(N, k, N_OUTCOME)`` int64 what its action did (columns ``O_*`` of
            :mod:`marketenv.engine.layout`).
        obs: ``(N, k, 45)`` its raw features at the start of the next tick.
        ticks: ``(N,)`` int64 the tick each market stands at the start of.

    Rows of markets that did not step keep their previous values.
    """

    def __init__(self, n_markets: int, learners: Sequence[int], keep_before: bool = False,
                 parallel: Parallel = False) -> None:
        if n_markets < 1:
            raise ConfigError(f"n_markets must be >= 1 (got {n_markets})")
        self.n_markets = n = int(n_markets)
        self.learners = np.asarray(learners, dtype=np.int64)
        k = self.learners.shape[0]
        self.keep_before = bool(keep_before)
        self.parallel = check_parallel(parallel)
        self.threaded = parallel is True
        """Whether steps run on numba's threads (with ``"auto"``, its current choice)."""
        self._auto = parallel == "auto" and threads_usable(n)
        self._left = 0  # "auto": steps before the next comparison (< 0: timed steps left in one)
        self._times = [np.inf, np.inf]  # "auto": best serial and threaded step of the comparison
        self._keep = 0  # "auto": steps the current choice is kept (0: none made yet)
        self.sims: list[Simulation | None] = [None] * n
        self._missing = n
        self._states: List | None = None
        self._trades: List | None = None
        self._ext: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None] = [None] * n
        self._direct = [False] * n  # whether market b's kernel draws uniforms and acting orders itself
        self._kernels: tuple | None = None
        self._result = np.zeros(n, dtype=np.int64)
        self._all = np.ones(n, dtype=np.bool_)
        self.equity_before = np.zeros((n, k))
        self.equity_after = np.zeros((n, k))
        self.fills = np.zeros((n, k, N_FILL), dtype=np.int64)
        self.outcomes = np.zeros((n, k, N_OUTCOME), dtype=np.int64)
        self.obs = np.zeros((n, k, N_FEATURES))
        self.ticks = np.zeros(n, dtype=np.int64)

    def set(self, b: int, sim: Simulation) -> None:
        """Put ``sim`` (compiled, standing at the start of a tick) in slot ``b``.

        Raises:
            ConfigError: ``sim`` does not run whole ticks in compiled code (its crowd has
                Python-only strategies, or it is the reference implementation).
        """
        if not sim.compiled:
            raise ConfigError("a MarketBatch needs a compiled simulation (every strategy a compiled kernel)")
        n = sim.n_agents
        mask = np.zeros(n, dtype=np.bool_)
        mask[self.learners] = True
        ext = (mask, np.zeros((n, 6), dtype=np.int64), np.zeros_like(sim.features.obs), np.zeros(n))
        if self.sims[b] is None:
            self._missing -= 1
        self.sims[b] = sim
        self.ticks[b] = sim.tick
        self._ext[b] = ext
        self._put(b)

    def _put(self, b: int) -> None:
        """(Re)build market ``b``'s kernel state from its simulation."""
        sim = self.sims[b]
        assert sim is not None
        mask, acts, obs_before, eq_before = self._ext[b]
        state, trades, self._direct[b] = sim.crowd.market_state(sim, mask, acts, obs_before, eq_before)
        if self._states is None:
            self._states = _filled_list(state, self.n_markets)
            self._trades = _filled_list(trades, self.n_markets)
            self._kernels = (sim.crowd.step_markets, sim.crowd.step_markets_parallel)
        _set_item(self._states, b, state)
        _set_item(self._trades, b, trades)

    def step(self, actions: np.ndarray, active: np.ndarray | None = None) -> None:
        """Run one tick of every market (or those ``active`` marks) with the learners' ``actions``.

        Args:
            actions: ``(N, k, 6)`` int64 flat actions (see :mod:`marketenv.actions`).
            active: ``(N,)`` bool; ``None`` steps every market.

        Raises:
            ResetNeeded: A market has no simulation yet.
        """
        if self._missing:
            raise ResetNeeded(f"{self._missing} of {self.n_markets} markets have no simulation yet; set them all")
        result = self._result
        todo = self._all if active is None else active
        threaded, timed = self._choose() if self._auto else (self.threaded, False)
        served: dict[tuple[int, int], int] = {}
        while True:
            t0 = time.perf_counter()
            needs, grew = self._run(threaded, actions, todo)
            if timed:  # the first call of a step that a comparison times
                timed = False
                self._times[threaded] = min(self._times[threaded], time.perf_counter() - t0)
                if self._left == 0:
                    choice = bool(self._times[1] < self._times[0])
                    confirmed = self._keep > 0 and choice == self.threaded
                    self._keep = min(2 * self._keep, _KEEP_MAX) if confirmed else _KEEP
                    self.threaded = choice
                    self._left = self._keep
            if grew:
                for b in np.flatnonzero(result == STEP_GREW).tolist():
                    self.sims[b].market.adopt_trades(_get_item(self._trades, b))
            if not needs:
                return
            todo = result > STEP_IDLE
            for b in np.flatnonzero(todo).tolist():
                need = int(result[b])
                times = served[b, need] = served.get((b, need), 0) + 1
                if times > 2:  # served, then rebuilt, and still short
                    raise RuntimeError(f"market {b} still reports need {need} after its state was rebuilt (a bug)")
                self._service(b, need, rebuild=times > 1)

    def _run(self, threaded: bool, actions: np.ndarray, todo: np.ndarray) -> tuple[int, int]:
        """One call of the serial or the threaded kernel."""
        global _threads_pid
        assert self._kernels is not None
        chunk = 0
        if threaded:
            chunk = nb.set_parallel_chunksize(_CHUNK)
            if _threads_pid is None:
                _threads_pid = os.getpid()
        try:
            return self._kernels[threaded](self._states, self._trades, self.learners, actions, todo, self.keep_before,
                                           self._result, self.ticks, self.equity_before, self.equity_after,
                                           self.fills, self.outcomes, self.obs)
        except SystemError as exc:  # a Ctrl-C while the kernel loads: nothing ran
            reraise_interrupt(exc)
            raise  # unreachable: reraise_interrupt always raises
        finally:
            if threaded:
                nb.set_parallel_chunksize(chunk)

    def _choose(self) -> tuple[bool, bool]:
        """``parallel="auto"``: ``(threaded, timed)`` for the next step.

        A comparison times ``_PROBES`` steps of the serial kernel, then as many of the
        threaded one; the faster (by its best step) then runs for ``_KEEP`` steps, twice
        as many each time a comparison confirms the choice (up to ``_KEEP_MAX``), and so
        on. Steps of one kind in a row, so that the threads are awake for their best step.
        """
        if self._left == 0:
            if not threads_usable(self.n_markets):  # forked, or cores taken away
                self._auto = self.threaded = False
                return False, False
            self._left = -2 * _PROBES  # negative: comparing
            self._times = [np.inf, np.inf]
        if self._left < 0:
            self._left += 1
            return self._left > -_PROBES, True
        self._left -= 1
        return self.threaded, False

    def _service(self, b: int, need: int, rebuild: bool = False) -> None:
        """Give market ``b`` what it needs to run its next tick, and rebuild its state
        (unless new draws went into the same arrays and not ``rebuild``)."""
        sim = self.sims[b]
        assert sim is not None
        if need == NEED_SLOTS:
            sim.market.reserve_orders(2 * sim.n_agents + 2)
        elif need == NEED_SYNC:
            self.ticks[b] = sim.tick
        elif need == NEED_DRAWS:  # new blocks drawn into the same arrays leave the state valid
            if not sim.market.refill_draws(orders=not self._direct[b]) and not rebuild:
                return
        self._put(b)  # building the state draws the used-up blocks (NEED_DRAWS, NEED_UNIFORMS)

    def refresh(self, b: int) -> Simulation:
        """Market ``b``'s simulation, its Python-side state brought up to date."""
        sim = self.sims[b]
        if sim is None:
            raise ResetNeeded(f"market {b} has no simulation yet")
        sim.refresh()
        return sim

    def transition(self, b: int) -> Transition:
        """The whole last tick of market ``b`` (needs ``keep_before``; call right after the step).

        Raises:
            ResetNeeded: ``keep_before`` is off, or nothing was stepped.
        """
        if not self.keep_before:
            raise ResetNeeded("this MarketBatch does not keep the state before a tick (keep_before=False)")
        sim = self.refresh(b)
        _mask, _acts, obs_before, eq_before = self._ext[b]
        return sim.finished_tick(sim.tick - 1, obs_before.copy(), eq_before.copy())


# Typed-list access through cached kernels: numba compiles its own typed-list helpers anew
# in every process for each item type (seconds for a tuple of 52 arrays).
@nb.njit(cache=True)
def _filled_list(item, n):  # noqa: ANN001, ANN202
    """A typed list of ``n`` references to ``item``."""
    out = List()
    for _ in range(n):
        out.append(item)
    return out


@nb.njit(cache=True)
def _set_item(items, i, item):  # noqa: ANN001, ANN202
    items[i] = item


@nb.njit(cache=True)
def _get_item(items, i):  # noqa: ANN001, ANN202
    return items[i]
