"""The anomaly report: the top N distinct anomalies of a data folder, with context and a chart.

"Distinct" = at most one entry per coin per `separation` minutes, so one crash that stays
odd for an hour is one row, not twenty. Context per row: the close, the 15-minute move
into the minute, the hour after it (hindsight, for the reader: did it matter?), the
15-minute volume against the coin's prior-day rate, and the market-wide score then. The PNG
shows each listed coin's price with the anomalies marked and numbered by rank.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.research.anomaly_io import GridData, filled_close
from risk.anomaly import AnomalyBundle, prepare_history
from risk.anomaly_eval import top_separated, volume_strength
from risk.anomaly_threshold import ThresholdMethod, find_threshold

SEPARATION_MINUTES = 60


@dataclass(frozen=True, slots=True)
class AnomalyRow:
    """One listed anomaly and its context."""

    rank: int
    time_utc: str
    ts_ms: int
    symbol: str
    score: float  # x threshold
    close: float
    move_15m_pct: float  # into the minute
    next_1h_pct: float  # hindsight
    volume_ratio: float  # 15m quote volume / prior-day 15m mean
    market_score: float  # x market threshold


@dataclass(frozen=True)
class Scored:
    """Scores of every coin-minute and of the market, as multiples of their thresholds."""

    coin: np.ndarray  # [T, n], NaN while warming up
    market: np.ndarray  # [T]
    coin_threshold: str
    market_threshold: str


def score_data(data: GridData, bundle: AnomalyBundle, kind: str = "ae",
               method: ThresholdMethod = "evt", rate: float = 0.001,
               market_rate: float = 0.001) -> Scored:
    """Score every coin-minute and minute of `data` with the bundle, as the daemon would."""
    prepared = prepare_history(data.features, floor=bundle.floor,
                               halflife_minutes=bundle.halflife_minutes,
                               warmup_minutes=bundle.warmup_minutes)
    coin_threshold = find_threshold(bundle.validation["coin"][kind], method, rate)
    market_threshold = find_threshold(bundle.validation["market"][kind], method, market_rate)
    coin = np.full(prepared.warm.shape, np.nan)
    coin[prepared.warm] = (bundle.networks["coin"][kind].score(prepared.z[prepared.warm])
                           / coin_threshold.value)
    market = np.full(prepared.market.shape[0], np.nan)
    ok = np.isfinite(prepared.market).all(axis=1)
    if ok.any():
        market[ok] = (bundle.networks["market"][kind].score(prepared.market[ok])
                      / market_threshold.value)
    return Scored(coin, market, coin_threshold.detail, market_threshold.detail)


def top_anomalies(data: GridData, scored: Scored, top: int) -> list[AnomalyRow]:
    """The `top` highest distinct coin anomalies with their context."""
    close = filled_close(data.grid)
    volume_ratio = volume_strength(data.grid.quote_volume)
    candidates: list[tuple[float, int, int]] = []
    for column in range(close.shape[1]):
        for row in top_separated(scored.coin[:, column], top, SEPARATION_MINUTES):
            candidates.append((float(scored.coin[row, column]), row, column))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    rows = []
    length = close.shape[0]
    for rank, (score, row, column) in enumerate(candidates[:top], start=1):
        ts_ms = int(data.open_ms[row])
        price = float(close[row, column])
        before = close[max(row - 15, 0), column]
        after = close[min(row + 60, length - 1), column]
        rows.append(AnomalyRow(
            rank=rank, time_utc=time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts_ms / 1000)),
            ts_ms=ts_ms, symbol=data.grid.symbols[column], score=round(score, 2),
            close=price, move_15m_pct=_pct(price, before), next_1h_pct=_pct(after, price),
            volume_ratio=round(float(volume_ratio[row, column]), 1)
            if math.isfinite(volume_ratio[row, column]) else float("nan"),
            market_score=round(float(scored.market[row]), 2)))
    return rows


def _pct(new: float, old: float) -> float:
    if not (math.isfinite(new) and math.isfinite(old)) or old <= 0:
        return float("nan")
    return round((new / old - 1) * 100, 2)


def write_csv(rows: list[AnomalyRow], path: Path) -> Path:
    """The table as CSV (one row per anomaly, columns as `AnomalyRow`)."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(AnomalyRow.__slots__))
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))
    return path


def plot(data: GridData, scored: Scored, rows: list[AnomalyRow], path: Path,
         title: str) -> Path:
    """Price of each listed coin with its anomalies marked and numbered (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    symbols = list(dict.fromkeys(r.symbol for r in rows)) or list(data.grid.symbols[:1])
    columns = 3 if len(symbols) > 4 else max(len(symbols), 1)
    lines = math.ceil(len(symbols) / columns)
    figure, axes = plt.subplots(lines + 1, columns, figsize=(5 * columns, 2.6 * (lines + 1)),
                                squeeze=False)
    times = (data.open_ms / 1000).astype("datetime64[s]")
    close = filled_close(data.grid)
    market_axis = plt.subplot2grid((lines + 1, columns), (0, 0), colspan=columns, fig=figure)
    for ax in axes[0]:
        ax.set_visible(False)
    market_axis.plot(times, scored.market, lw=0.6, color="tab:purple")
    market_axis.axhline(1.0, color="red", lw=0.8, ls="--", label="alarm line (x threshold = 1)")
    market_axis.set_yscale("log")
    market_axis.set_title("market-wide anomaly score (x threshold)", fontsize=9)
    market_axis.legend(fontsize=7, loc="upper left")
    for index, symbol in enumerate(symbols):
        ax = axes[1 + index // columns][index % columns]
        column = data.grid.symbols.index(symbol)
        ax.plot(times, close[:, column], lw=0.6, color="tab:blue")
        mine = [r for r in rows if r.symbol == symbol]
        marks = np.asarray([r.ts_ms for r in mine]) // 1000
        ax.scatter(marks.astype("datetime64[s]"), [r.close for r in mine], color="red", s=18,
                   zorder=3)
        for row in mine:
            ax.annotate(str(row.rank), (np.datetime64(row.ts_ms // 1000, "s"), row.close),
                        textcoords="offset points", xytext=(3, 4), fontsize=7, color="red")
        ax.set_title(symbol, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    for index in range(len(symbols), lines * columns):
        axes[1 + index // columns][index % columns].set_visible(False)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def report_rows_as_dicts(rows: list[AnomalyRow]) -> list[dict[str, Any]]:
    """JSON-safe rows (NaN -> None)."""
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v)
             for k, v in asdict(row).items()} for row in rows]
