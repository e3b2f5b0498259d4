"""ComprehensiveFeatures: the one feature vector every agent sees.

The same code feeds the Gymnasium observation, the recorded ``f_`` columns and the
model-driven agents. Names, order, units and the NaN policy are in
:mod:`marketenv.feature_spec`.

Timing: features at tick ``t`` describe the state at the *start* of tick ``t``, before any
agent acts (after the news and fair-value update of tick ``t``, which touch no book). The
mid-price series is the one ``mid_price`` reports tick by tick; every indicator is computed
on that series ending at the current value, incrementally (O(1) per tick).

Per-tick bars (for ATR): the bar of tick ``t`` spans from the start of tick ``t-1`` to the
start of tick ``t``: ``open = mid_{t-1}``, ``close = mid_t``, ``high``/``low`` = the extremes
of ``mid_{t-1}``, ``mid_t`` and every trade price during tick ``t-1`` (a half-tick mid is
rounded outwards). The bar of tick 0 is the single value ``mid_0``.

Agent risk: equity ``E_t = cash + position * mid`` at the start of tick ``t``; the per-tick
return is ``(E_t - E_{t-1}) / max(|E_{t-1}|, 1)``; ``volatility`` is the sample standard
deviation of those returns times ``sqrt(TICKS_PER_YEAR)``, ``sharpe`` is their mean over
that standard deviation times ``sqrt(TICKS_PER_YEAR)`` (0 when the deviation is 0);
``max_drawdown`` is the largest ``(peak - E) / peak`` seen so far, clipped to [0, 1].
The running mean and variance are Welford's (agree with a two-pass recomputation to ~1e-11
relative, see ``tests/test_features.py``).

Speed: the per-symbol market values are updated in plain Python (scalar work, O(1) per
tick); everything per agent (risk state, the account block and assembling each agent's
vector from its symbol's row) is one compiled numba loop over all agents, and the
cross-symbol statistics are another. :meth:`ComprehensiveFeatures.extract` runs the same
compiled assembly on one agent, so it equals the batched row bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from marketenv.engine import features as EF
from marketenv.feature_spec import FEATURE_NAMES, N_FEATURES, TICKS_PER_YEAR
from marketenv.market import Market, TickStats
from marketenv.price_history import PriceHistory
from marketenv.types import TICKS_PER_UNIT

_SQRT_TPY = math.sqrt(TICKS_PER_YEAR)
_M0, _M1 = 0, 31  # market block: mid_price .. news_ticks_remaining
_A0, _A1 = 31, 41  # agent block: position .. volatility
_X0, _X1 = 41, 45  # microstructure and cross-symbol block
_ROW = (_M1 - _M0) + (_X1 - _X0)  # a symbol's market row: the market block, then the extras
_CROSS_WINDOW = 20
_NAN = float("nan")


@dataclass(frozen=True)
class AccountState:
    """One agent's account, in currency units and shares (floats at this boundary)."""

    position: float
    position_limit: float
    cash: float
    initial_cash: float
    initial_equity: float
    equity: float


@dataclass(frozen=True)
class RiskSnapshot:
    """One agent's risk state."""

    max_drawdown: float
    sharpe: float
    volatility: float


@dataclass(frozen=True)
class FeatureContext:
    """What one agent's feature vector is computed from.

    Attributes:
        tick: The current tick.
        symbol: Symbol index.
        market: The symbol's market features this tick: the 31 market values
            (``mid_price`` .. ``news_ticks_remaining``) then the 4 microstructure and
            cross-symbol values, as produced by :meth:`MarketFeatures.rows`.
        account: The agent's account.
        risk: The agent's risk state.
        price_history: Rolling mid prices of every symbol.
    """

    tick: int
    symbol: int
    market: np.ndarray
    account: AccountState
    risk: RiskSnapshot
    price_history: PriceHistory


@runtime_checkable
class FeatureExtractor(Protocol):
    """Maps a :class:`FeatureContext` to an ordered feature vector."""

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The ordered feature names."""
        ...

    def extract(self, context: FeatureContext) -> np.ndarray:
        """The feature vector of one agent at one tick (float64)."""
        ...


def fill_features(
    rows: np.ndarray,
    symbols: np.ndarray,
    position: np.ndarray,
    position_limit: np.ndarray,
    cash: np.ndarray,
    initial_cash: np.ndarray,
    initial_equity: np.ndarray,
    equity: np.ndarray,
    max_drawdown: np.ndarray,
    sharpe: np.ndarray,
    volatility: np.ndarray,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Assemble the feature vectors of a batch of agents (one compiled loop).

    The batched engine and the single-agent extractor both run this, so they agree to the
    last bit. Agent ``i`` gets its symbol's market row ``rows[symbols[i]]`` (the 31 market
    values, then the 4 microstructure and cross-symbol values) and its 10 agent features
    (``position`` .. ``volatility``) computed from its account and risk state.

    Args:
        rows: ``(n_symbols, 35)`` market rows (see :meth:`MarketFeatures.rows`).
        symbols: ``(n,)`` int64 symbol index per agent.
        position: ``(n,)`` positions in each agent's symbol, shares.
        position_limit: ``(n,)`` position limits.
        cash: ``(n,)`` cash, currency units.
        initial_cash: ``(n,)`` initial cash, already safe to divide by (1 where an agent
            has none).
        initial_equity: ``(n,)`` equity at the start of the run.
        equity: ``(n,)`` equity now.
        max_drawdown: ``(n,)`` risk state.
        sharpe: ``(n,)`` risk state.
        volatility: ``(n,)`` risk state.
        out: ``(n, 45)`` float64 array to write into; a new one if ``None``.

    Returns:
        ``out``.
    """
    if out is None:
        out = np.empty((position.shape[0], N_FEATURES))
    EF.fill_kernel(
        rows, symbols, position, position_limit, cash, initial_cash, initial_equity, equity,
        max_drawdown, sharpe, volatility, out,
    )
    return out


class ComprehensiveFeatures:
    """The ComprehensiveFeatures extractor (see the module docstring)."""

    feature_names: tuple[str, ...] = FEATURE_NAMES

    def extract(self, context: FeatureContext) -> np.ndarray:
        """One agent's vector, computed by the same code as the batched path.

        Args:
            context: The agent's state at the start of the tick (see
                :meth:`FeatureEngine.context`).

        Returns:
            The ``(45,)`` float64 feature vector, in :data:`FEATURE_NAMES` order.
        """
        a, r = context.account, context.risk

        def arr(v: float) -> np.ndarray:
            return np.array([v], dtype=np.float64)

        out = fill_features(
            np.ascontiguousarray(context.market, dtype=np.float64).reshape(1, -1),
            np.zeros(1, dtype=np.int64),
            arr(a.position), arr(a.position_limit), arr(a.cash),
            arr(a.initial_cash if a.initial_cash > 0 else 1.0),
            arr(a.initial_equity), arr(a.equity), arr(r.max_drawdown), arr(r.sharpe),
            arr(r.volatility),
        )
        return out[0]


class MarketFeatures:
    """Per-symbol market features of a compiled :class:`Market`, updated once per tick.

    The state (indicators, price history, cross-symbol returns) is arrays advanced by
    :func:`marketenv.engine.features.market_rows`; see that module for the layout.
    """

    def __init__(self, market: Market) -> None:
        self.market = market
        n = market.n_symbols
        self.ind_f, self.ind_i, self.ind_buf, self.ind_val = EF.new_indicator_state(n)
        self.hist = np.full((n, EF.HISTORY), _NAN)
        self.hist_n = np.zeros(n, dtype=np.int64)
        self.rets = np.zeros((n, EF.CROSS_WINDOW))
        self.cross_i = np.zeros(2, dtype=np.int64)
        self.prev_mid = np.zeros(n)
        self.stats = np.zeros((n, 4), dtype=np.int64)
        """The finished tick's ``(trades, volume, high, low)`` per symbol (ticks)."""
        self.flags = np.zeros(1, dtype=np.int64)
        """``[1 once a tick has finished]`` (before that the bar is the single mid)."""
        self._rows = np.zeros((n, _ROW))

    def observe_stats(self, stats: TickStats) -> None:
        """Remember the finished tick's statistics (trades, volume, bar high/low)."""
        st = self.stats
        st[:, 0] = stats.trades
        st[:, 1] = stats.volume
        st[:, 2] = stats.high
        st[:, 3] = stats.low
        self.flags[0] = 1

    @property
    def has_stats(self) -> bool:
        """Whether a tick has finished (its statistics are in :attr:`stats`)."""
        return bool(self.flags[0])

    def row(self, symbol: int) -> np.ndarray:
        """A copy of one symbol's latest 35 market values (as :meth:`rows` last returned)."""
        return self._rows[symbol].copy()

    def rows(self) -> np.ndarray:
        """Advance to the current tick and return the ``(n_symbols, 35)`` market rows."""
        m = self.market
        EF.market_rows(
            m._sym, self.stats, self.has_stats, m.fundamentals.symbol_state, m.news.state, m.news.counts,
            self.ind_f, self.ind_i, self.ind_buf, self.ind_val, self.hist, self.hist_n, self.rets,
            self.cross_i, self.prev_mid, self._rows,
        )
        return self._rows

    @property
    def history(self) -> PriceHistory:
        """The rolling mid prices of every symbol (a snapshot)."""
        n, cap = self.hist.shape
        h = PriceHistory(n, capacity=cap)
        for s in range(n):
            k = int(self.hist_n[s])
            for j in range(max(0, k - cap), k):
                h.record(s, float(self.hist[s, j % cap]))
        return h


def _warm_up() -> None:
    """Compile (or load from the cache) the kernels for the engine's argument types now."""
    e = np.zeros(0)
    EF.risk_kernel(e, True, 0, e, e, e, e, e, e, e, 1.0)
    fill_features(np.zeros((1, _ROW)), np.zeros(0, dtype=np.int64), e, e, e, e, e, e, e, e, e, np.zeros((0, N_FEATURES)))


class AgentRisk:
    """Vectorised running risk state of all agents (drawdown, Sharpe, volatility).

    Definitions in the module docstring; one compiled loop per tick.
    """

    def __init__(self, n_agents: int) -> None:
        self.state = np.zeros((EF.N_RISK, n_agents))
        """Rows ``R_*`` of :mod:`marketenv.engine.features`: previous equity, peak, max
        drawdown, running mean and M2 of returns, Sharpe, volatility."""
        self.state[[EF.R_SHARPE, EF.R_VOL]] = _NAN
        self.counts = np.zeros(2, dtype=np.int64)
        """``[equities fed, returns seen]``."""

    @property
    def count(self) -> int:
        """Equities fed so far."""
        return int(self.counts[0])

    @property
    def n(self) -> int:
        """Returns seen so far (``count - 1``)."""
        return int(self.counts[1])

    @property
    def max_dd(self) -> np.ndarray:
        """Largest drawdown so far per agent."""
        return self.state[EF.R_MAX_DD]

    @property
    def sharpe(self) -> np.ndarray:
        """Annualised Sharpe ratio per agent (NaN before two returns)."""
        return self.state[EF.R_SHARPE]

    @property
    def volatility(self) -> np.ndarray:
        """Annualised volatility per agent (NaN before two returns)."""
        return self.state[EF.R_VOL]

    def update(self, equity: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Feed this tick's equities; return ``(max_drawdown, sharpe, volatility)``.

        The returned arrays are this object's state (overwritten by the next update).
        """
        c = self.counts
        first = c[0] == 0
        if not first:
            c[1] += 1
        c[0] += 1
        r = self.state
        EF.risk_kernel(
            np.ascontiguousarray(equity, dtype=np.float64), first, int(c[1]), r[EF.R_PREV], r[EF.R_PEAK],
            r[EF.R_MAX_DD], r[EF.R_MEAN], r[EF.R_M2], r[EF.R_SHARPE], r[EF.R_VOL], _SQRT_TPY,
        )
        return self.max_dd, self.sharpe, self.volatility

    def snapshot(self, agent: int) -> RiskSnapshot:
        """One agent's risk state after the last update."""
        return RiskSnapshot(
            float(self.max_dd[agent]), float(self.sharpe[agent]), float(self.volatility[agent])
        )


class FeatureEngine:
    """Computes every agent's ComprehensiveFeatures vector once per tick, batched.

    Args:
        market: The market to observe.
        agent_symbols: Symbol index per agent.
        position_limits: Position limit per agent.
    """

    feature_names = FEATURE_NAMES

    def __init__(
        self,
        market: Market,
        agent_symbols: Sequence[int],
        position_limits: Sequence[int],
        market_features: MarketFeatures | None = None,
    ) -> None:
        self.market = market
        self.market_features = market_features or MarketFeatures(market)
        self.agent_symbols = np.asarray(agent_symbols, dtype=np.int64)
        n = len(self.agent_symbols)
        self.n_agents = n
        self._flat = np.arange(n) * market.n_symbols + self.agent_symbols
        self.position_limits = np.asarray(position_limits, dtype=np.float64)
        self.initial_cash = np.asarray(market.initial_cash, dtype=np.float64) / TICKS_PER_UNIT
        self.initial_equity = market.equity_cents() / TICKS_PER_UNIT
        self._safe_cash = np.where(self.initial_cash > 0, self.initial_cash, 1.0)
        self.risk = AgentRisk(n)
        self._one_symbol = market.n_symbols == 1
        self.obs = np.zeros((n, N_FEATURES))
        self.equity = self.initial_equity.copy()
        self._loop = (np.empty(n), np.empty(n), np.empty(n))  # pos, cash, equity of a compiled loop
        _warm_up()

    @property
    def price_history(self) -> PriceHistory:
        """The rolling mid prices of every symbol."""
        return self.market_features.history

    def observe_stats(self, stats: TickStats) -> None:
        """Pass the finished tick's statistics on (call after :meth:`Market.end_tick`)."""
        self.market_features.observe_stats(stats)

    def account_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(position in each agent's symbol, cash, equity)`` now, as floats (fresh arrays)."""
        m = self.market
        n = self.n_agents
        pos, cash, equity = np.empty(n), np.empty(n), np.empty(n)
        EF.account_arrays(
            np.asarray(m.cash, dtype=np.int64), np.asarray(m.position, dtype=np.int64), self._flat,
            self._mid2(), pos, cash, equity,
        )
        return pos, cash, equity

    def state_arrays(self) -> tuple[np.ndarray, ...]:
        """The compiled features' state, for compiled callers (see :mod:`agents.crowd_loop`).

        Call :meth:`adopt_loop_state` after running them.
        """
        mf = self.market_features
        return (
            mf.stats, mf.flags, mf.ind_f, mf.ind_i, mf.ind_buf, mf.ind_val, mf.hist, mf.hist_n, mf.rets,
            mf.cross_i, mf.prev_mid, mf._rows, self._flat, self.agent_symbols, self.position_limits,
            self._safe_cash, self.initial_equity, self.risk.state, self.risk.counts, *self._loop, self.obs,
        )

    def adopt_loop_state(self) -> None:
        """Publish the account floats of the last begin phase (as fresh arrays).

        The begin phase (:meth:`compute` or a compiled loop) writes them into the state
        arrays; ``pos``, ``cash`` and ``equity`` are copies, never written again.
        """
        self.pos, self.cash, self.equity = (a.copy() for a in self._loop)

    def _mid2(self) -> np.ndarray:
        m = self.market
        return np.array([m.mid2(k) for k in range(m.n_symbols)], dtype=np.int64)

    def context(self, agent: int) -> FeatureContext:
        """One agent's :class:`FeatureContext` for the current tick (after :meth:`compute`).

        ``ComprehensiveFeatures().extract(engine.context(i))`` equals ``engine.obs[i]``.
        """
        m = self.market
        sym = int(self.agent_symbols[agent])
        pos, cash, equity = self.account_arrays()
        account = AccountState(
            position=float(pos[agent]),
            position_limit=float(self.position_limits[agent]),
            cash=float(cash[agent]),
            initial_cash=float(self.initial_cash[agent]),
            initial_equity=float(self.initial_equity[agent]),
            equity=float(equity[agent]),
        )
        return FeatureContext(
            tick=m.tick,
            symbol=sym,
            market=self.market_features.row(sym),
            account=account,
            risk=self.risk.snapshot(agent),
            price_history=self.price_history,
        )

    def compute(self) -> np.ndarray:
        """All agents' feature vectors at the start of the current tick, ``(n_agents, 45)``.

        Call exactly once per tick, after :meth:`Market.start_tick`.
        """
        rows = self.market_features.rows()
        m = self.market
        pos, cash, equity = self._loop
        EF.agents_step(
            rows, np.asarray(m.cash, dtype=np.int64), np.asarray(m.position, dtype=np.int64), self._mid2(),
            self._flat, self.agent_symbols, self.position_limits, self._safe_cash, self.initial_equity,
            self.risk.state, self.risk.counts, pos, cash, equity, self.obs, _SQRT_TPY,
        )
        self.adopt_loop_state()
        return self.obs
