"""Classic technical indicators on a flat-filled close grid, normalized across coins.

Columns (in `INDICATOR_NAMES` order), every one scale-free so one model fits all coins:
- `sma20_gap`, `sma50_gap`: log(close / SMA(n) of 1m closes);
- `rsi14`: Wilder's RSI(14) of 1m closes, rescaled to [-1, 1] ((RSI - 50) / 50);
- `macd`, `macd_signal`, `macd_hist`: MACD(12, 26) line, its EMA(9) signal line and their
  difference, each divided by the close (a price-level-free MACD).
Periods count rows of the grid: minutes on the 1m grids named above, hours on a 1h grid
(the classic indicators are defined per bar, whatever its length).

Every recursion starts at the first close it is given, so the live path, which recomputes
them over the last `LIVE_WINDOW` minutes, matches the offline path over the full history to
float precision once a coin has that many minutes (the slowest EMA's weight on anything
older than 300 minutes is (25/27)^300 < 1e-10; RSI's (13/14)^300 < 1e-9). Missing closes
(before a coin's first bar) stay NaN; the caller flat-fills gaps, the rule the feature book uses.
"""

from __future__ import annotations

import warnings

import numpy as np

from model import libm
from model.first_order_filter import first_order_filter

INDICATOR_NAMES: tuple[str, ...] = (
    "sma20_gap", "sma50_gap", "rsi14", "macd", "macd_signal", "macd_hist",
)
#: Minutes of closes the live path recomputes the indicators over.
LIVE_WINDOW = 300


def _ema(values: np.ndarray, alpha: float) -> np.ndarray:
    """EMA along axis 0, seeded with each column's first finite value; NaN before it.

    One first-order filter pass (scipy's `lfilter` bits, model/first_order_filter.py):
    leading NaNs are filled with the first finite value, which leaves the EMA at exactly
    that value until the series starts, as a seeded recursion would."""
    filled, has = _lead_filled(values)
    seed = np.where(has, filled[0], 0.0)
    started = np.cumsum(np.isfinite(values), axis=0) > 0
    filled = np.where(np.isfinite(filled), filled, seed[None, :])
    out = first_order_filter(alpha, alpha - 1.0, filled, ((1 - alpha) * seed)[None, :])[0]
    return np.where(started, out, np.nan)


def _sma(close: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over `window` rows; fewer rows at the start of a coin's history."""
    finite = np.isfinite(close)
    filled = np.where(finite, close, 0.0)
    sums = np.cumsum(filled, axis=0)
    counts = np.cumsum(finite, axis=0).astype(np.float64)
    sums[window:] = sums[window:] - sums[:-window]
    counts[window:] = counts[window:] - counts[:-window]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def indicators(close: np.ndarray) -> np.ndarray:
    """Indicators [T, n, len(INDICATOR_NAMES)] of flat-filled closes [T, n] (NaN = no data)."""
    out = np.full(close.shape + (len(INDICATOR_NAMES),), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[..., 0] = libm.log(close / _sma(close, 20))
        out[..., 1] = libm.log(close / _sma(close, 50))
        previous = np.vstack([close[:1], close[:-1]])
        change = close - previous
        gain = _ema(np.where(np.isfinite(change), np.maximum(change, 0.0), np.nan), 1 / 14)
        loss = _ema(np.where(np.isfinite(change), np.maximum(-change, 0.0), np.nan), 1 / 14)
        total = gain + loss
        out[..., 2] = np.where(total > 0, (gain - loss) / total, 0.0)  # (RSI - 50) / 50
        out[..., 2] = np.where(np.isfinite(close), out[..., 2], np.nan)
        macd = _ema(close, 2 / 13) - _ema(close, 2 / 27)
        signal = _ema(macd, 2 / 10)
        out[..., 3] = macd / close
        out[..., 4] = signal / close
        out[..., 5] = (macd - signal) / close
    return out


def flat_fill(close: np.ndarray) -> np.ndarray:
    """Carry each column's last finite close forward over gaps (NaN before the first)."""
    length = close.shape[0]
    valid = np.isfinite(close) & (close > 0)
    index = np.where(valid, np.arange(length)[:, None], -1)
    newest = np.maximum.accumulate(index, axis=0)
    filled = np.take_along_axis(close, np.maximum(newest, 0), axis=0)
    return np.where(newest >= 0, filled, np.nan)


def _lead_filled(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values with each column's leading NaNs set to its first finite value, has-data mask)."""
    finite = np.isfinite(values)
    first = np.where(finite.any(axis=0), finite.argmax(axis=0), 0)
    seed = np.take_along_axis(values, first[None, :], axis=0)[0]
    started = np.arange(values.shape[0])[:, None] >= first[None, :]
    return np.where(started, values, seed[None, :]), finite.any(axis=0)


_WEIGHTS: dict[int, dict[str, np.ndarray]] = {}


def _last_value_weights(length: int) -> dict[str, np.ndarray]:
    """Each EMA's last value as a dot product with the (lead-filled) inputs: the filters are
    linear, so their response to unit impulses gives the weights exactly."""
    if length not in _WEIGHTS:
        impulses = np.eye(length)
        ema12, ema26 = _ema(impulses, 2 / 13), _ema(impulses, 2 / 27)
        _WEIGHTS[length] = {
            "ema12": ema12[-1], "ema26": ema26[-1],
            "signal": _ema(ema12 - ema26, 2 / 10)[-1], "wilder": _ema(impulses, 1 / 14)[-1]}
    return _WEIGHTS[length]


def live_indicators(close: np.ndarray) -> np.ndarray:
    """`indicators(close)[-1]` for closes [T, n] in a few dot products (the live path).

    Equal to the full computation up to float rounding: the EMAs are the same linear
    filters with the same seeding (leading NaNs filled with the first value)."""
    length = close.shape[0]
    weights = _last_value_weights(length)
    filled, has = _lead_filled(close)
    filled = np.where(has[None, :], filled, 0.0)
    last = close[-1]
    out = np.full((close.shape[1], len(INDICATOR_NAMES)), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of a coin with no data
        out[:, 0] = libm.log(last / np.nanmean(close[-20:], axis=0))
        out[:, 1] = libm.log(last / np.nanmean(close[-50:], axis=0))
        change = np.vstack([np.zeros((1, close.shape[1])), np.diff(close, axis=0)])
        change[0] = np.where(np.isfinite(close[0]), 0.0, np.nan)
        gains, has_change = _lead_filled(np.where(np.isfinite(change), np.maximum(change, 0), np.nan))
        losses, _ = _lead_filled(np.where(np.isfinite(change), np.maximum(-change, 0), np.nan))
        gain = weights["wilder"] @ np.where(has_change[None, :], gains, 0.0)
        loss = weights["wilder"] @ np.where(has_change[None, :], losses, 0.0)
        total = gain + loss
        out[:, 2] = np.where(total > 0, (gain - loss) / np.where(total > 0, total, 1.0), 0.0)
        macd = weights["ema12"] @ filled - weights["ema26"] @ filled
        signal = weights["signal"] @ filled
        out[:, 3] = macd / last
        out[:, 4] = signal / last
        out[:, 5] = (macd - signal) / last
    out[~np.isfinite(last)] = np.nan
    return out
