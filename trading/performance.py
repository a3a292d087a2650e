"""Performance statistics of an equity curve and its round trips (pure functions).

Returns are measured on the equity curve resampled to hours, so a Sharpe ratio does not
depend on how often the engine decided. Annualization assumes crypto's 24×365 hours.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import numpy as np

HOUR_MS = 3_600_000
HOURS_PER_YEAR = 24 * 365


@dataclass(frozen=True, slots=True)
class RoundTrip:
    symbol: str
    opened_ms: int
    closed_ms: int
    pnl: Decimal  # realized, after fees


@dataclass(frozen=True, slots=True)
class Performance:
    total_return: float
    cagr: float
    sharpe: float
    sortino: float
    max_drawdown: float
    win_rate: float
    trades: int
    fees: float
    exposure: float
    turnover: float
    start_equity: float
    end_equity: float
    hours: float

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def hourly_equity(ts_ms: np.ndarray, equity: np.ndarray) -> np.ndarray:
    """The last equity of every hour (forward-filled), oldest first."""
    if ts_ms.size == 0:
        return equity
    hours = (ts_ms - ts_ms[0]) // HOUR_MS
    last_of_hour = np.flatnonzero(np.r_[hours[1:] != hours[:-1], True])
    return np.r_[equity[0], equity[last_of_hour]]


def max_drawdown(equity: np.ndarray) -> float:
    """Largest peak-to-trough loss as a positive fraction of the peak."""
    if equity.size == 0:
        return 0.0
    peaks = np.maximum.accumulate(equity)
    return float(np.max(1 - equity / peaks))


def sharpe_sortino(returns: np.ndarray) -> tuple[float, float]:
    """Annualized Sharpe and Sortino of hourly returns (risk-free rate 0); 0 when undefined."""
    if returns.size < 2:
        return 0.0, 0.0
    mean, std = float(np.mean(returns)), float(np.std(returns, ddof=1))
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
    scale = math.sqrt(HOURS_PER_YEAR)
    sharpe = mean / std * scale if std > 0 else 0.0
    sortino = mean / downside * scale if downside > 0 else 0.0
    return sharpe, sortino


def performance(
    ts_ms: Sequence[int],
    equity: Sequence[float],
    round_trips: Iterable[RoundTrip],
    fees: float,
    traded_notional: float,
    exposed_steps: int,
) -> Performance:
    """Summary statistics of one run (equity sampled at every decision step)."""
    ts = np.asarray(ts_ms, dtype=np.int64)
    curve = np.asarray(equity, dtype=np.float64)
    trips = list(round_trips)
    if curve.size == 0:
        return Performance(0, 0, 0, 0, 0, 0, 0, fees, 0, 0, 0, 0, 0)
    start, end = float(curve[0]), float(curve[-1])
    hours = float(ts[-1] - ts[0]) / HOUR_MS if ts.size else 0.0
    total = end / start - 1 if start > 0 else 0.0
    years = hours / HOURS_PER_YEAR
    cagr = (end / start) ** (1 / years) - 1 if years > 0 and end > 0 and start > 0 else 0.0
    hourly = hourly_equity(ts, curve)
    sharpe, sortino = sharpe_sortino(np.diff(hourly) / hourly[:-1]) if hourly.size > 2 else (0.0, 0.0)
    wins = sum(1 for t in trips if t.pnl > 0)
    return Performance(
        total_return=total,
        cagr=cagr if math.isfinite(cagr) else 0.0,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=max_drawdown(curve),
        win_rate=wins / len(trips) if trips else 0.0,
        trades=len(trips),
        fees=fees,
        exposure=exposed_steps / curve.size,
        turnover=traded_notional / float(np.mean(curve)) if curve.size else 0.0,
        start_equity=start,
        end_equity=end,
        hours=hours,
    )
