"""Window lengths shared by the incremental and the vectorized feature paths.

Both paths import these tuples, so a window added here appears in both and the parity
test covers it. Every window is a count of 1-minute bars on a full minute grid (a missing
minute is a flat bar), so "1h" always means the last 60 minutes of wall time.
"""

from __future__ import annotations

import numpy as np

#: Moving averages of close and of quote volume: 1m 3m 5m 10m 30m 1h 6h 12h 1d 1w 1M (30 days).
AVERAGE_WINDOWS: tuple[int, ...] = (1, 3, 5, 10, 30, 60, 360, 720, 1440, 10_080, 43_200)
AVERAGE_LABELS: tuple[str, ...] = (
    "1m", "3m", "5m", "10m", "30m", "1h", "6h", "12h", "1d", "1w", "1M",
)
#: Sums of 1m log returns (trend and regime): 1h 6h 12h 1d.
RETURN_WINDOWS: tuple[int, ...] = (60, 360, 720, 1440)
RETURN_LABELS: tuple[str, ...] = ("1h", "6h", "12h", "1d")
#: Which RETURN_WINDOWS also keep a sum of squares (volatility): 1h and 1d.
SQUARE_SLOTS: tuple[int, ...] = (0, 3)
#: Rolling high/low lines: 1h 1d 1w.
RANGE_WINDOWS: tuple[int, ...] = (60, 1440, 10_080)
RANGE_LABELS: tuple[str, ...] = ("1h", "1d", "1w")

#: Ring lengths: the longest window each quantity needs.
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
