"""A replayed minute's ticker arrays as one object, for one call per consumer a minute.

Why: a replay publishes one `!ticker@arr` array per synthesized tick, four a minute, and
each went through the feed edge's check, the bad-print filter and the feature book on its
own: twelve compiled calls and their Python glue a minute, for arrays that almost always
all pass. `TickArrays` carries the minute's arrays together (the replay feed's direct path
has them as one table already); each consumer judges or stores them in one call, exactly
as it would one array after the other, and where any array might not pass as it is, the
consumer takes them one by one as `TickBatch`es (`batch(j)`), changing nothing first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.market import TickBatch

#: The rows of `TickArrays.table`, in order (the fields of a TickBatch after its times).
TICKER_FIELDS = ("last", "bid", "ask", "bid_qty", "ask_qty", "base_volume", "quote_volume")


@dataclass(frozen=True, slots=True)
class TickArrays:
    """Ticker arrays of the same symbols at consecutive instants: array j was published at
    `ts_event[j]` (every row's event time, and its receive time) with the numbers
    `table[j]` (rows TICKER_FIELDS, columns `symbols`). Read the arrays, never write."""

    symbols: tuple[str, ...]
    ts_event: np.ndarray  # int64 (arrays,)
    table: np.ndarray  # float64 (arrays, 7, symbols), C-contiguous

    def __len__(self) -> int:
        """How many arrays."""
        return int(self.ts_event.shape[0])

    @property
    def ticks(self) -> int:
        """Rows in all the arrays together."""
        return len(self) * len(self.symbols)

    def batch(self, j: int) -> TickBatch:
        """Array j as the TickBatch a feed delivers for it (views of the table)."""
        ts = int(self.ts_event[j])
        last, bid, ask, bid_qty, ask_qty, base_volume, quote_volume = self.table[j]
        return TickBatch(self.symbols, np.full(len(self.symbols), ts, dtype=np.int64), ts,
                         last, bid, ask, bid_qty, ask_qty, base_volume, quote_volume)

    def batches(self) -> list[TickBatch]:
        """Every array as its TickBatch, in order."""
        return [self.batch(j) for j in range(len(self))]
