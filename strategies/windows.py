"""Feature windows as durations, shared by the incremental and the vectorized feature paths.

Both paths import these tuples, so a window added here appears in both and the parity
test covers it. Every window is a duration in minutes of wall time on a full grid (a
missing bar is a flat bar), so "1h" always means the last 60 minutes.

On a grid of bar length L a window of duration D is *present* when D >= L and D is a whole
number of bars (then it is D // L rows), else *absent*: its features are NaN rather than a
window rounded to the bars (a "5m" average on hourly bars would be an hourly one under a
false name). On the 1m grid every window is present and rows = minutes, so the live rings
(strategies/rolling.py, 1m only) use these numbers as row counts directly.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from model.market import MINUTE_MS

#: Moving averages of close and of quote volume, in minutes: 1m 3m 5m 10m 30m 1h 6h 12h 1d 1w
#: 1M (30 days).
AVERAGE_WINDOWS: tuple[int, ...] = (1, 3, 5, 10, 30, 60, 360, 720, 1440, 10_080, 43_200)
AVERAGE_LABELS: tuple[str, ...] = (
    "1m", "3m", "5m", "10m", "30m", "1h", "6h", "12h", "1d", "1w", "1M",
)
#: Sums of log returns (trend and regime), in minutes: 1h 6h 12h 1d.
RETURN_WINDOWS: tuple[int, ...] = (60, 360, 720, 1440)
RETURN_LABELS: tuple[str, ...] = ("1h", "6h", "12h", "1d")
#: Which RETURN_WINDOWS also keep a sum of squares (volatility): 1h and 1d.
SQUARE_SLOTS: tuple[int, ...] = (0, 3)
#: Rolling high/low lines, in minutes: 1h 1d 1w.
RANGE_WINDOWS: tuple[int, ...] = (60, 1440, 10_080)
RANGE_LABELS: tuple[str, ...] = ("1h", "1d", "1w")

#: Ring lengths of the live 1m rings: the longest window each quantity needs.
PRICE_CAPACITY = max(AVERAGE_WINDOWS)
RETURN_CAPACITY = max(RETURN_WINDOWS)
RANGE_CAPACITY = max(RANGE_WINDOWS)
#: Block length for block maxima of the range lines; every long range window is a multiple.
RANGE_BLOCK = 60

AVERAGE_WINDOWS_ARRAY = np.asarray(AVERAGE_WINDOWS, dtype=np.int64)
RETURN_WINDOWS_ARRAY = np.asarray(RETURN_WINDOWS, dtype=np.int64)
SQUARE_SLOTS_ARRAY = np.asarray(SQUARE_SLOTS, dtype=np.int64)
RANGE_WINDOWS_ARRAY = np.asarray(RANGE_WINDOWS, dtype=np.int64)

assert all(w % RANGE_BLOCK == 0 for w in RANGE_WINDOWS)


def window_rows(window_minutes: int, bar_ms: int) -> int | None:
    """Rows of a grid of `bar_ms` bars that make up a window of `window_minutes`, or None
    when the window is absent at that bar length (shorter than a bar or not a whole number
    of bars)."""
    duration_ms = window_minutes * MINUTE_MS
    if bar_ms <= 0 or duration_ms < bar_ms or duration_ms % bar_ms:
        return None
    return duration_ms // bar_ms


@lru_cache(maxsize=32)
def window_rows_array(windows: tuple[int, ...], bar_ms: int) -> np.ndarray:
    """`window_rows` of each window as float64, NaN where absent (read-only, cached): NaN
    counts make every feature built on an absent window NaN."""
    rows = np.array([np.nan if (r := window_rows(w, bar_ms)) is None else float(r)
                     for w in windows])
    rows.flags.writeable = False
    return rows


def present_windows(windows: tuple[int, ...], bar_ms: int) -> np.ndarray:
    """Bool mask of the windows present at bar length `bar_ms`."""
    return np.isfinite(window_rows_array(windows, bar_ms))
