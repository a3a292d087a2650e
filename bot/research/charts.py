"""The report's charts: matplotlib figures built without pyplot, saved as PNG headless.

`matplotlib.figure.Figure` is used directly (no pyplot, no global figure registry, no GUI
backend), so charts render the same on a server without a display, in a test, or in the
scheduler's subprocess. Each function returns its Figure, so tests can check series and
labels before `save` writes the PNG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # headless even if an interactive backend is configured

import numpy as np
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from model.instruments import Side

if TYPE_CHECKING:
    from bot.research.report_data import Fill, HourStats, LedgerView, RegimeOutcome, RegimeSeries

BUY_COLOR, SELL_COLOR = "#1a9850", "#d73027"
REGIME_COLORS = {1.0: "#a6d96a", -1.0: "#f46d43"}  # bull green, bear red; sideways unshaded
DPI = 100


def _dates(ts_ms: np.ndarray | Sequence[int]) -> np.ndarray:
    return np.asarray(ts_ms, dtype="int64").astype("datetime64[ms]")


def _time_axis(ax: object) -> None:
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)  # type: ignore[attr-defined]
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[attr-defined]


def save(figure: Figure, path: Path) -> Path:
    """Write `figure` as a PNG at `path` and return the path."""
    figure.savefig(path, format="png", dpi=DPI)
    return path


def equity_chart(view: LedgerView) -> Figure:
    """Equity over time with every fill marked (buys ▲, sells ▼), drawdown below it."""
    figure = Figure(figsize=(11, 6), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    when = _dates(view.equity_ts)
    top.plot(when, view.equity, color="#4575b4", linewidth=1.2, label="equity")
    for side, marker, color in ((Side.BUY, "^", BUY_COLOR), (Side.SELL, "v", SELL_COLOR)):
        ts = np.array([f.ts_ms for f in view.fills if f.side is side], dtype=np.int64)
        if ts.size:
            level = np.interp(ts, view.equity_ts, view.equity)
            top.scatter(_dates(ts), level, marker=marker, color=color, s=28, zorder=3,
                        label=f"{side.value.lower()} fills ({ts.size})")
    top.set_title("Equity with fills")
    top.set_ylabel("equity (quote)")
    top.legend(loc="best")
    top.grid(alpha=0.3)
    peaks = np.maximum.accumulate(view.equity)
    bottom.fill_between(when, -(1 - view.equity / peaks) * 100, 0, color=SELL_COLOR, alpha=0.4,
                        label="drawdown")
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    _time_axis(bottom)
    return figure


def hourly_activity_chart(hours: Sequence[HourStats]) -> Figure:
    """Buy and sell fills per hour, and the win rate of round trips closed each hour."""
    figure = Figure(figsize=(11, 6), layout="constrained")
    counts, rates = figure.subplots(2, 1, sharex=True)
    when = _dates([h.hour_ms for h in hours]) + np.timedelta64(30, "m")
    width = np.timedelta64(25, "m")
    counts.bar(when - width / 2, [h.buys for h in hours], width=width, color=BUY_COLOR,
               label="buys")
    counts.bar(when + width / 2, [h.sells for h in hours], width=width, color=SELL_COLOR,
               label="sells")
    counts.set_title("Buy/sell fills per hour")
    counts.set_ylabel("fills")
    counts.legend(loc="upper left")
    counts.grid(alpha=0.3)
    rated = [(w, h.win_rate * 100) for w, h in zip(when, hours) if h.win_rate is not None]
    closed = np.cumsum([h.closed_trips for h in hours])
    wins = np.cumsum([h.wins for h in hours])
    cumulative = np.divide(wins, closed, out=np.full(closed.shape, np.nan), where=closed > 0)
    if rated:
        rates.scatter([w for w, _ in rated], [r for _, r in rated], color="#542788", s=18,
                      label="win rate of the hour")
    rates.plot(when, cumulative * 100, color="#f1a340", linewidth=1.5,
               label="cumulative win rate")
    rates.axhline(50, color="grey", linewidth=0.8, linestyle="--")
    rates.set_ylim(-5, 105)
    rates.set_title("Win rate per hour")
    rates.set_ylabel("win rate %")
    rates.legend(loc="upper left")
    rates.grid(alpha=0.3)
    _time_axis(rates)
    return figure


def hourly_returns_chart(hours: Sequence[HourStats]) -> Figure:
    """Histogram of hourly equity returns with the mean and median marked."""
    figure = Figure(figsize=(8, 4.5), layout="constrained")
    ax = figure.subplots()
    returns = np.array([h.return_pct for h in hours], dtype=np.float64)
    ax.hist(returns, bins=max(10, min(60, returns.size // 3)), color="#4575b4", alpha=0.8,
            label=f"hourly returns (n={returns.size})")
    if returns.size:
        ax.axvline(float(np.mean(returns)), color=SELL_COLOR,
                   label=f"mean {np.mean(returns):+.4f}%")
        ax.axvline(float(np.median(returns)), color=BUY_COLOR, linestyle="--",
                   label=f"median {np.median(returns):+.4f}%")
    ax.set_title("Hourly return distribution")
    ax.set_xlabel("return per hour %")
    ax.set_ylabel("hours")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return figure


def _regime_spans(labels: np.ndarray) -> list[tuple[int, int, float]]:
    """Runs of equal non-sideways labels as (start index, end index exclusive, label)."""
    spans, start = [], 0
    for i in range(1, labels.size + 1):
        if i == labels.size or (labels[i] != labels[start] and not (
                np.isnan(labels[i]) and np.isnan(labels[start]))):
            if labels[start] in REGIME_COLORS:
                spans.append((start, i, float(labels[start])))
            start = i
    return spans


def regime_chart(series: RegimeSeries, fills: Sequence[Fill] = ()) -> Figure:
    """Price with bull (green) and bear (red) regimes shaded, one panel per window."""
    windows = list(series.regimes)
    figure = Figure(figsize=(11, 2.2 * len(windows) + 0.6), layout="constrained")
    axes = figure.subplots(len(windows), 1, sharex=True, squeeze=False)[:, 0]
    when = _dates(series.open_ms)
    step = np.timedelta64(1, "m")
    for ax, window in zip(axes, windows):
        ax.plot(when, series.close, color="black", linewidth=0.8, label="close")
        for start, end, label in _regime_spans(series.regimes[window]):
            ax.axvspan(when[start], when[end - 1] + step, color=REGIME_COLORS[label], alpha=0.35,
                       linewidth=0)
        for side, marker, color in ((Side.BUY, "^", BUY_COLOR), (Side.SELL, "v", SELL_COLOR)):
            mine = [f for f in fills if f.side is side]
            if mine:
                ax.scatter(_dates([f.ts_ms for f in mine]), [float(f.price) for f in mine],
                           marker=marker, color=color, s=16, zorder=3)
        ax.set_ylabel(f"{window} regime")
        ax.grid(alpha=0.3)
    from matplotlib.patches import Patch

    axes[0].legend(handles=[Patch(color=REGIME_COLORS[1.0], alpha=0.35, label="bull"),
                            Patch(color=REGIME_COLORS[-1.0], alpha=0.35, label="bear")],
                   loc="upper left")
    figure.suptitle(f"{series.symbol}: bull/bear regime per window over price")
    _time_axis(axes[-1])
    return figure


def regime_outcomes_chart(outcomes: Mapping[str, Mapping[str, RegimeOutcome]]) -> Figure:
    """Per window: wins and losses by regime at entry (top) and mean return (bottom)."""
    windows = list(outcomes)
    figure = Figure(figsize=(3.2 * len(windows) + 1, 6), layout="constrained")
    axes = figure.subplots(2, len(windows), squeeze=False, sharey="row")
    names = ["bull", "sideways", "bear"]
    x = np.arange(len(names))
    for col, window in enumerate(windows):
        counts, returns = axes[0, col], axes[1, col]
        by_name = outcomes[window]
        counts.bar(x - 0.2, [by_name[n].wins for n in names], 0.4, color=BUY_COLOR, label="wins")
        counts.bar(x + 0.2, [by_name[n].losses for n in names], 0.4, color=SELL_COLOR,
                   label="losses")
        counts.set_title(f"{window} regime")
        counts.set_xticks(x, names)
        mean = [by_name[n].mean_return_pct for n in names]
        returns.bar(x, mean, 0.6, color=[BUY_COLOR if m >= 0 else SELL_COLOR for m in mean])
        returns.axhline(0, color="grey", linewidth=0.8)
        returns.set_xticks(x, names)
        for ax in (counts, returns):
            ax.grid(alpha=0.3, axis="y")
    axes[0, 0].set_ylabel("round trips")
    axes[1, 0].set_ylabel("mean return per trip %")
    axes[0, 0].legend(loc="upper left")
    figure.suptitle("Wins, losses and returns by regime at entry")
    return figure
