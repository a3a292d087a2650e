"""The records a report is made of: our fills, round trips, hourly statistics, regimes.

Plain frozen data, shared by the report's builder (bot/research/report.py), its charts
(bot/research/charts.py) and its HTML page (bot/research/report_html.py), which import this module and not
each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from model.instruments import Side
from model.market import MINUTE_MS


@dataclass(frozen=True, slots=True)
class Fill:
    """One of our fills as the report needs it (money stays Decimal until plotted)."""

    ts_ms: int
    symbol: str
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal


@dataclass(frozen=True, slots=True)
class Trip:
    """A round trip: from flat to flat in one symbol; `pnl` is after every fee."""

    symbol: str
    opened_ms: int
    closed_ms: int
    pnl: Decimal
    cost: Decimal  # quote spent on the buys that opened it

    @property
    def return_pct(self) -> float:
        """PnL as a percentage of what the entries cost."""
        return float(self.pnl / self.cost * 100) if self.cost else 0.0


@dataclass(frozen=True, slots=True)
class HourStats:
    """One hour of the account: what `entasis profit` shows, stored by the hourly job."""

    hour_ms: int
    equity: float  # last snapshot of the hour
    return_pct: float  # from the previous hour's last equity (the first hour: its first)
    buys: int
    sells: int
    closed_trips: int
    wins: int
    fees: Decimal

    @property
    def win_rate(self) -> float | None:
        """Wins among the round trips that closed this hour; None when none closed."""
        return self.wins / self.closed_trips if self.closed_trips else None

    def as_dict(self) -> dict[str, Any]:
        """Plain data (Decimal as text) for JSON and SQLite."""
        return {"hour_ms": self.hour_ms, "equity": self.equity, "return_pct": self.return_pct,
                "buys": self.buys, "sells": self.sells, "closed_trips": self.closed_trips,
                "wins": self.wins, "fees": str(self.fees)}


@dataclass(frozen=True)
class LedgerView:
    """What a report reads from one ledger, in time order."""

    equity_ts: np.ndarray  # int64 ms
    equity: np.ndarray  # float64
    fills: list[Fill]
    trips: list[Trip]

    @property
    def symbols_by_activity(self) -> list[str]:
        """Traded symbols, most fills first (ties by name)."""
        counts: dict[str, int] = {}
        for fill in self.fills:
            counts[fill.symbol] = counts.get(fill.symbol, 0) + 1
        return sorted(counts, key=lambda s: (-counts[s], s))


@dataclass(frozen=True)
class RegimeSeries:
    """1m closes of one symbol with its regime label (+1/0/-1, NaN unknown) per window."""

    symbol: str
    open_ms: np.ndarray
    close: np.ndarray
    regimes: dict[str, np.ndarray]  # window label -> label per minute

    def at(self, window: str, ts_ms: int) -> float:
        """The label of the last minute that closed before `ts_ms` (what a decision saw)."""
        index = int(np.searchsorted(self.open_ms, ts_ms - MINUTE_MS, side="right")) - 1
        return float(self.regimes[window][index]) if index >= 0 else float("nan")


@dataclass(frozen=True, slots=True)
class RegimeOutcome:
    """Round trips opened in one regime of one window."""

    wins: int
    losses: int
    mean_return_pct: float
    total_pnl: Decimal


@dataclass
class Report:
    """What `build_report` wrote and the figures in it (`summary` is JSON-ready)."""

    html_path: Path
    charts: dict[str, Path] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


# --- reading the ledger ---------------------------------------------------------------------
