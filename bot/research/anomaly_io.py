"""The anomaly detector's data edge: a folder of 1m OHLCV CSVs in.

`load_grid` puts CSVs on one minute grid with their features (training, evaluation and the
report read data this way); the configured model's side is bot/app/anomaly_setup.py, kept
apart so that the daemon does not import pandas. The files are those the replay exchange
reads (`<BASE>_<QUOTE>-1m.csv[.gz]`, columns timestamp_ms,open,high,low,close,volume); quote
volume is volume x the bar's mean price, as the replay exchange sends it, so a model trained
here sees the daemon's numbers on replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exchange.sim.replay import FILE_PATTERN, ReplayError, read_ohlcv
from model.market import MINUTE_MS, BarHistory
from strategies.features_batch import MinuteGrid, features_from_history


@dataclass(frozen=True)
class GridData:
    """Bars on a minute grid and their features [T, n, n_features]."""

    grid: MinuteGrid
    features: np.ndarray

    @property
    def open_ms(self) -> np.ndarray:
        """Open time of every row."""
        return self.grid.open_ms


def load_grid(directory: str | Path) -> GridData:
    """Every 1m CSV of `directory` on one grid, plus features; errors say what is wanted."""
    path = Path(directory)
    if not path.is_dir():
        raise ReplayError(f"--data {path}: not a folder of <BASE>_<QUOTE>-1m.csv[.gz] files")
    histories = []
    for file in sorted(path.iterdir()):
        match = FILE_PATTERN.match(file.name)
        if not match:
            continue
        frame = read_ohlcv(file)
        if not len(frame):
            continue
        o, h, l, c, v = (frame[f].to_numpy(np.float64)  # noqa: E741  OHLCV
                         for f in ("open", "high", "low", "close", "volume"))
        histories.append(BarHistory(
            symbol=f"{match.group(1).upper()}{match.group(2).upper()}",
            open_ms=frame["timestamp_ms"].to_numpy(np.int64), open=o, high=h, low=l, close=c,
            volume=v, quote_volume=v * (o + h + l + c) / 4.0))
    if not histories:
        raise ReplayError(f"no <BASE>_<QUOTE>-1m.csv[.gz] files with data in {path}, "
                          "e.g. ETH_BTC-1m.csv.gz with columns timestamp_ms,open,high,low,"
                          "close,volume")
    grid = MinuteGrid.from_histories(histories)
    return GridData(grid, features_from_history(grid))


def filled_close(grid: MinuteGrid) -> np.ndarray:
    """Close [T, n] with missing minutes carried forward (NaN before a coin's first bar)."""
    close = grid.close
    index = np.where(np.isfinite(close), np.arange(close.shape[0])[:, None], -1)
    newest = np.maximum.accumulate(index, axis=0)
    out = close[np.maximum(newest, 0), np.arange(close.shape[1])]
    return np.where(newest >= 0, out, np.nan)


def minute_of(grid: MinuteGrid, ts_ms: int) -> int:
    """Row of the minute opening at `ts_ms`."""
    return (ts_ms - grid.start_ms) // MINUTE_MS
