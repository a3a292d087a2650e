"""The anomaly detector's edges: a folder of 1m OHLCV CSVs in, the configured model in.

`load_grid` puts CSVs on one minute grid with their features (training, evaluation and the
report read data this way). `make_detector` turns the `[anomaly]` config into a detector,
or into None, with a warning, when detection is off or the model is missing or unusable:
the daemon must trade unchanged without a trained model. The files are those the replay
exchange reads (`<BASE>_<QUOTE>-1m.csv[.gz]`, columns
timestamp_ms,open,high,low,close,volume); quote volume is volume x the bar's mean price, as
the replay exchange sends it, so a model trained here sees the daemon's numbers on replay.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from exchange.sim.replay import FILE_PATTERN, ReplayError, read_ohlcv
from model.market import MINUTE_MS, BarHistory
from strategies.features_batch import MinuteGrid, features_from_history

if TYPE_CHECKING:
    from bot.config import Config
    from risk.anomaly import AnomalyDetector

log = logging.getLogger(__name__)


def model_path(config: Config) -> Path:
    """`[anomaly] model_path`, relative paths resolved against the data directory."""
    path = config.anomaly.model_path
    return path if path.is_absolute() else config.data_dir / path


def make_detector(config: Config) -> AnomalyDetector | None:
    """The configured detector, or None (logged) when off, missing or unusable."""
    settings = config.anomaly
    if not settings.enabled:
        return None
    from risk.anomaly import AnomalyBundle, AnomalyDetector, AnomalyModelError  # torch

    path = model_path(config)
    try:
        detector = AnomalyDetector(
            AnomalyBundle.load(path), kind=settings.kind, method=settings.threshold_method,
            rate=settings.rate, market_rate=settings.market_rate,
            cooldown_minutes=settings.cooldown_minutes, in_ranking=settings.in_ranking)
    except (AnomalyModelError, ValueError) as exc:
        log.warning("anomaly detection is enabled but off for this run: %s", exc)
        return None
    log.info("anomaly detection on: %s", detector.describe())
    return detector


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
