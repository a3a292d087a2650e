"""Feature formulas: one pure function from window statistics to the feature matrix.

Both the live `FeatureBook` and the vectorized `features_from_history` compute the same
*primitives* (window sums, highs/lows, last price, quote fields) in their own way and then
call `assemble()`, so the formulas exist once and the parity test checks only the
statistics. Every feature is normalized to be comparable across coins (log ratios,
per-minute volatilities, positions in [0, 1], bounded imbalances).

Features (in `FEATURE_NAMES` order):
- `px_ma_<w>`: log(last / mean close over w). "last" = the newest tick's last price when it
  is newer than the last closed bar, else that bar's close.
- `qv_ma_<w>`: log1p(mean quote volume per minute over w / the same over 1M): activity
  relative to the coin's own monthly rate (log 2 = as usual; 0 = no trades).
- `sigma_1h`, `sigma_1d`: population std of 1m log returns over the window (per minute).
- `vol_level`: sigma_1h / sigma_1d (1 = usual; 1 when the coin did not move for a day).
- `range_pos_<w>`: (last - low) / (high - low) of 1m highs/lows over w; 0.5 when flat.
- `ret_<w>`: log return over w up to "last"; `trend_z_<w>` and `regime_<w>`: see regime.py.
- `turnover_1h`, `turnover_1d`: log1p(quote volume summed over the window).
- `spread_bps`, `imbalance` ((bid_qty - ask_qty) / (bid_qty + ask_qty)) and
  `tick_turnover_24h` (log1p of the exchange's 24h quote volume): from the last tick; NaN
  without ticks (always NaN in the vectorized history path).
- `warm_minutes`: minutes of history (flat-filled minutes included) behind the row.
Windows that reach back before a coin's first bar use the minutes it has.

On bars longer than a minute (`assemble(..., bar_ms=...)`, the vectorized path on a
`BarGrid`) the units stay the same: averages are over the bars of the window, returns are
log returns over the window's duration, volatilities are per sqrt(minute) (the variance of
bar returns divided by the bar's minutes), warm-up is in minutes. A feature resting on a
window absent at that bar length (strategies/windows.py) is NaN, in the same column; a
volatility needs two returns, so `sigma_1h` is NaN on hourly bars and `sigma_1d` (with the
trend z-scores and regimes scaled by it) on daily ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from model import libm
from model.market import MINUTE_MS
from strategies.regime import regime, trend_z
from strategies.windows import (
    AVERAGE_LABELS,
    AVERAGE_WINDOWS,
    RANGE_LABELS,
    RANGE_WINDOWS,
    RETURN_LABELS,
    RETURN_WINDOWS,
    SQUARE_SLOTS,
    window_rows_array,
)

#: A column over symbols, or one symbol's value (the live book sanitizes bar by bar).
ArrayOrScalar = np.ndarray | np.float64

FEATURE_NAMES: tuple[str, ...] = (
    *(f"px_ma_{label}" for label in AVERAGE_LABELS),
    *(f"qv_ma_{label}" for label in AVERAGE_LABELS),
    "sigma_1h", "sigma_1d", "vol_level",
    *(f"range_pos_{label}" for label in RANGE_LABELS),
    *(f"ret_{label}" for label in RETURN_LABELS),
    *(f"trend_z_{label}" for label in RETURN_LABELS),
    *(f"regime_{label}" for label in RETURN_LABELS),
    "turnover_1h", "turnover_1d",
    "spread_bps", "imbalance", "tick_turnover_24h",
    "warm_minutes",
)
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}
TICK_FEATURES: tuple[str, ...] = ("spread_bps", "imbalance", "tick_turnover_24h")
_HOUR = AVERAGE_WINDOWS.index(60)
_DAY = AVERAGE_WINDOWS.index(1440)


@dataclass(frozen=True, slots=True)
class Primitives:
    """Window statistics of every symbol (leading shape [..., n_symbols]).

    Sums cover min(window, bars seen) bars; `sum_ret*` cover the bar log returns in the
    window (one fewer than bars seen at the start of a coin's history). Windows absent at
    the bar length are NaN."""

    n_seen: np.ndarray  # float64 [..., n]: minutes appended (bars x bar minutes)
    close: np.ndarray  # last closed bar's close (NaN before any bar)
    last: np.ndarray  # "last" price (see module docstring)
    sum_close: np.ndarray  # [..., n, len(AVERAGE_WINDOWS)]
    sum_qv: np.ndarray  # [..., n, len(AVERAGE_WINDOWS)]
    sum_ret: np.ndarray  # [..., n, len(RETURN_WINDOWS)]
    sum_ret2: np.ndarray  # [..., n, len(SQUARE_SLOTS)]
    high: np.ndarray  # [..., n, len(RANGE_WINDOWS)]
    low: np.ndarray
    bid: np.ndarray  # [..., n], NaN without ticks, as the four below
    ask: np.ndarray
    bid_qty: np.ndarray
    ask_qty: np.ndarray
    tick_quote_volume: np.ndarray


#: The largest quote volume the features hold (float32's largest finite value).
MAX_FEATURE_VOLUME = float(np.finfo(np.float32).max)


def feature_volume(quote_volume: ArrayOrScalar) -> np.ndarray:
    """Quote volume at the precision the features carry it: float32's 24-bit significand
    (7 significant digits), as float64.

    Why: the live book keeps a month of 1m quote volumes per coin for the 1M average; as
    float64 that ring was 173 MB at 500 coins, the largest single part of the daemon's RSS
    (ADR-104). Rounded once here, where live and batch bars are both sanitized, every path
    sums the same values: the ring stores them in 4 bytes with nothing lost, and the batch
    features, the RL env and the fast backtester see what the daemon sees. Idempotent."""
    clipped = np.minimum(np.asarray(quote_volume, dtype=np.float64), MAX_FEATURE_VOLUME)
    return clipped.astype(np.float32).astype(np.float64)


def sanitize_bars(close: ArrayOrScalar, high: ArrayOrScalar, low: ArrayOrScalar,
                  quote_volume: ArrayOrScalar) -> tuple[np.ndarray, ...]:
    """(valid, high, low, quote_volume): a bar without a positive finite close counts as a
    missing minute; highs/lows always bracket the close; missing volume is no volume; the
    volume is held at `feature_volume`'s precision."""
    valid = np.isfinite(close) & (close > 0)
    high = np.fmax(high, close)
    low = np.fmin(low, close)
    usable = np.isfinite(quote_volume) & (np.asarray(quote_volume) > 0)
    quote_volume = feature_volume(np.where(usable, quote_volume, 0.0))  # 0 stays 0
    return valid, high, low, quote_volume


def assemble(p: Primitives, bar_ms: int = MINUTE_MS) -> np.ndarray:
    """The feature matrix [..., n_symbols, len(FEATURE_NAMES)] from window statistics of
    bars of `bar_ms` (1m for the live book)."""
    n_seen = p.n_seen
    out = np.full(n_seen.shape + (len(FEATURE_NAMES),), np.nan)
    last = p.last[..., None]
    # Per-bar statistics to per-minute ones; exactly 1.0 on 1m, so that path is unchanged.
    bar_minutes = bar_ms / MINUTE_MS
    bars_seen = n_seen / bar_minutes
    with np.errstate(divide="ignore", invalid="ignore"):
        counts = np.minimum(bars_seen[..., None], window_rows_array(AVERAGE_WINDOWS, bar_ms))
        n_avg = len(AVERAGE_WINDOWS)
        out[..., :n_avg] = libm.log(last / (p.sum_close / counts))
        mean_qv = p.sum_qv / counts
        reference = mean_qv[..., -1:]
        relative = np.divide(mean_qv, reference, out=np.zeros_like(mean_qv),
                             where=reference > 0)
        out[..., n_avg:2 * n_avg] = libm.log1p(relative)

        return_counts = np.minimum(np.maximum(bars_seen - 1, 0)[..., None],
                                   window_rows_array(RETURN_WINDOWS, bar_ms))
        square_counts = return_counts[..., list(SQUARE_SLOTS)]
        mean_ret = p.sum_ret[..., list(SQUARE_SLOTS)] / square_counts
        variance = np.maximum(p.sum_ret2 / square_counts - mean_ret * mean_ret, 0.0)
        sigma = np.where(square_counts >= 2, np.sqrt(variance / bar_minutes), np.nan)
        col = 2 * n_avg
        out[..., col:col + 2] = sigma
        sigma_1h, sigma_1d = sigma[..., 0], sigma[..., 1]
        level = np.divide(sigma_1h, sigma_1d, out=np.ones_like(sigma_1d), where=sigma_1d > 0)
        out[..., col + 2] = np.where(np.isnan(sigma_1d), np.nan, level)
        col += 3

        span = p.high - p.low
        position = np.divide(last - p.low, span, out=np.full_like(span, 0.5), where=span > 0)
        out[..., col:col + 3] = position
        col += 3

        ret = p.sum_ret + libm.log(p.last / p.close)[..., None]
        z = trend_z(ret, sigma_1d[..., None], np.maximum(return_counts, 1) * bar_minutes)
        out[..., col:col + 4] = ret
        out[..., col + 4:col + 8] = z
        out[..., col + 8:col + 12] = regime(z)
        col += 12

        out[..., col] = libm.log1p(p.sum_qv[..., _HOUR])
        out[..., col + 1] = libm.log1p(p.sum_qv[..., _DAY])
        col += 2
        no_bars = n_seen <= 0
        out[no_bars, :col] = np.nan

        mid = (p.ask + p.bid) / 2
        out[..., col] = np.where((p.bid > 0) & (p.ask > 0), (p.ask - p.bid) / mid * 1e4, np.nan)
        depth = p.bid_qty + p.ask_qty
        imbalance = np.divide(p.bid_qty - p.ask_qty, depth, out=np.zeros_like(depth),
                              where=depth > 0)
        out[..., col + 1] = np.where(np.isnan(depth), np.nan, imbalance)
        out[..., col + 2] = libm.log1p(p.tick_quote_volume)
        out[..., col + 3] = n_seen
    no_data = no_bars & np.isnan(p.last)
    out[no_data] = np.nan
    if bar_ms != MINUTE_MS:
        out[..., absent_columns(bar_ms)] = np.nan
    return out


@lru_cache(maxsize=32)
def absent_columns(bar_ms: int) -> tuple[int, ...]:
    """Indices into `FEATURE_NAMES` of the features that rest on a window absent at bar
    length `bar_ms` (strategies/windows.py): NaN columns, whatever the statistics hold."""
    def gone(windows: tuple[int, ...], label_of: dict[int, str]) -> set[str]:
        rows = window_rows_array(windows, bar_ms)
        return {label_of[w] for w, r in zip(windows, rows, strict=True) if np.isnan(r)}

    averages = gone(AVERAGE_WINDOWS, dict(zip(AVERAGE_WINDOWS, AVERAGE_LABELS, strict=True)))
    returns = gone(RETURN_WINDOWS, dict(zip(RETURN_WINDOWS, RETURN_LABELS, strict=True)))
    ranges = gone(RANGE_WINDOWS, dict(zip(RANGE_WINDOWS, RANGE_LABELS, strict=True)))
    volatility = {RETURN_LABELS[k] for k in SQUARE_SLOTS} & returns
    names: set[str] = set()
    for label in AVERAGE_LABELS:
        if label in averages:
            names.add(f"px_ma_{label}")
        if label in averages or AVERAGE_LABELS[-1] in averages:  # relative to the 1M rate
            names.add(f"qv_ma_{label}")
    names |= {f"sigma_{label}" for label in volatility}
    if volatility:
        names.add("vol_level")
    names |= {f"range_pos_{label}" for label in ranges}
    for label in RETURN_LABELS:
        if label in returns:
            names.add(f"ret_{label}")
        if label in returns or "1d" in returns:  # z-scored by sigma_1d
            names |= {f"trend_z_{label}", f"regime_{label}"}
    names |= {f"turnover_{label}" for label in ("1h", "1d") if label in averages}
    return tuple(sorted(FEATURE_INDEX[name] for name in names))
