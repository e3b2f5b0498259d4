"""Names, order and one-line descriptions of the ComprehensiveFeatures vector.

This module is dependency-free so that writers, checkers and model loaders can import the
feature contract without the market. The recorded Parquet columns carry an ``f_`` prefix.

NaN policy (the only features that may be NaN, and until when; ``t`` is the tick index,
starting at 0, and a symbol's first observed mid is at ``t = 0``):

* ``price_change_k`` / ``log_return_k``: NaN while ``t < k``.
* ``sma_n``: NaN while ``t < n - 1``. ``ema_12`` / ``ema_26``: NaN while ``t < 11`` / ``t < 25``.
* ``rsi_14``: NaN while ``t < 14``. ``atr_14``: NaN while ``t < 14``.
* ``macd_line``: NaN while ``t < 25``; ``macd_signal`` and ``macd_histogram``: while ``t < 33``.
* ``bb_upper`` / ``bb_middle`` / ``bb_lower`` / ``bb_percent_b``: NaN while ``t < 19``.
* ``sharpe`` / ``volatility``: NaN until the agent has 2 equity returns (``t < 2``).
* ``correlation_to_market``: NaN until 20 returns (``t < 20``) and in a one-symbol market
  it is 1.0 from then on; ``relative_strength``: NaN while ``t < 20``.

Everything else is always finite. Conventions for degenerate states: an empty book side
carries the last two-sided quote forward (mid and spread never become NaN); zero
volatility gives ``sharpe = 0``; zero-width Bollinger bands give ``bb_percent_b = 0.5``;
no price movement over the RSI window gives ``rsi_14 = 50``.
"""

from __future__ import annotations

FEATURES: tuple[tuple[str, str], ...] = (
    ("mid_price", "(best_bid + best_ask) / 2 at the start of the tick, currency units"),
    ("spread", "best_ask - best_bid, currency units (last two-sided value if a side is empty)"),
    ("spread_bps", "spread / mid_price * 10000"),
    ("price_change_1", "mid-price change from 1 tick ago, percent"),
    ("price_change_5", "mid-price change from 5 ticks ago, percent"),
    ("price_change_20", "mid-price change from 20 ticks ago, percent"),
    ("price_change_100", "mid-price change from 100 ticks ago, percent"),
    ("log_return_1", "ln(mid_t / mid_{t-1})"),
    ("log_return_5", "ln(mid_t / mid_{t-5})"),
    ("log_return_20", "ln(mid_t / mid_{t-20})"),
    ("sma_10", "simple moving average of the mid over 10 ticks"),
    ("sma_20", "simple moving average of the mid over 20 ticks"),
    ("sma_50", "simple moving average of the mid over 50 ticks"),
    ("ema_12", "EMA(12) of the mid, seeded with the SMA of the first 12 values"),
    ("ema_26", "EMA(26) of the mid, seeded with the SMA of the first 26 values"),
    ("rsi_14", "RSI(14) with Wilder smoothing, 0..100"),
    ("macd_line", "ema_12 - ema_26"),
    ("macd_signal", "EMA(9) of macd_line, seeded with the SMA of its first 9 values"),
    ("macd_histogram", "macd_line - macd_signal"),
    ("bb_upper", "sma_20 + 2 population standard deviations"),
    ("bb_middle", "sma_20"),
    ("bb_lower", "sma_20 - 2 population standard deviations"),
    ("bb_percent_b", "(mid - bb_lower) / (bb_upper - bb_lower); 0.5 for zero-width bands"),
    ("atr_14", "ATR(14), Wilder smoothing of the true range of per-tick bars"),
    ("fair_value", "Gordon Growth Model fair value, currency units"),
    ("price_to_fair_value", "mid_price / fair_value"),
    ("fair_value_deviation", "(mid_price - fair_value) / fair_value, percent"),
    ("has_active_news", "1.0 if a news event is active for the symbol, else 0.0"),
    ("news_sentiment", "sentiment of the active event in [-1, 1], 0.0 if none"),
    ("news_magnitude", "magnitude of the active event in [0, 1], 0.0 if none"),
    ("news_ticks_remaining", "ticks until the active event expires, 0.0 if none"),
    ("position", "the agent's position in the symbol, shares (negative = short)"),
    ("position_normalized", "position / position_limit, in [-1, 1]"),
    ("cash", "the agent's cash, currency units"),
    ("cash_normalized", "cash / initial_cash"),
    ("total_pnl", "equity - initial equity (realised + unrealised), currency units"),
    ("pnl_normalized", "total_pnl / initial_cash, percent"),
    ("equity", "cash + sum over symbols of position * mid_price, currency units"),
    ("max_drawdown", "largest fall of equity from its running peak, fraction in [0, 1]"),
    ("sharpe", "annualised Sharpe ratio of per-tick equity returns (risk-free rate 0)"),
    ("volatility", "annualised standard deviation of per-tick equity returns"),
    ("total_trades_this_tick", "number of trades in the symbol during the previous tick"),
    ("total_volume_this_tick", "shares traded in the symbol during the previous tick"),
    ("correlation_to_market", "rolling 20-tick correlation of the symbol's 1-tick returns with the equal-weight market's"),
    ("relative_strength", "symbol 20-tick log return minus the market's 20-tick log return"),
)

FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _ in FEATURES)
FEATURE_DESCRIPTIONS: dict[str, str] = dict(FEATURES)
N_CORE_FEATURES = 41
"""The first 41 names are the ComprehensiveFeatures of the design note, in its order."""
N_FEATURES = len(FEATURE_NAMES)
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}

AGENT_STATE_FEATURES: tuple[str, ...] = (
    "position",
    "position_normalized",
    "cash",
    "cash_normalized",
    "total_pnl",
    "pnl_normalized",
    "equity",
    "max_drawdown",
    "sharpe",
    "volatility",
)
"""Features that describe the agent itself rather than the market."""

MARKET_FEATURES: tuple[str, ...] = tuple(n for n in FEATURE_NAMES if n not in AGENT_STATE_FEATURES)
"""The public market features: the same for every agent trading a symbol (35)."""

TICKS_PER_YEAR = 252 * 390 * 60
"""Ticks per year used to annualise sharpe and volatility: one tick = one second of a
252-day, 6.5-hour trading year (5,896,800)."""

assert N_FEATURES == 45

NAN_UNTIL: dict[str, int] = {
    "price_change_1": 1,
    "price_change_5": 5,
    "price_change_20": 20,
    "price_change_100": 100,
    "log_return_1": 1,
    "log_return_5": 5,
    "log_return_20": 20,
    "sma_10": 9,
    "sma_20": 19,
    "sma_50": 49,
    "ema_12": 11,
    "ema_26": 25,
    "rsi_14": 14,
    "macd_line": 25,
    "macd_signal": 33,
    "macd_histogram": 33,
    "bb_upper": 19,
    "bb_middle": 19,
    "bb_lower": 19,
    "bb_percent_b": 19,
    "atr_14": 14,
    "sharpe": 2,
    "volatility": 2,
    "correlation_to_market": 20,
    "relative_strength": 20,
}
"""Feature name -> first tick from which it is never NaN. Features not listed are never NaN."""
