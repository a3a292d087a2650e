"""Bad prints: a possible price far outside the recent market waits for confirmation before
anything uses it. Pure: no I/O, no clock, no logging (the engine reports).

The feed edge (exchange/feeds/sanity.py) drops what cannot be true. A bar at 1000x or 0.001x
of the price is possible in form and still almost always an error (a mistyped print, a unit
slip); marked at that price it trips the daily-loss breaker and feeds VaR/ES a loss that
never happened. So the engine asks `PrintFilter` before a bar or tick reaches the
features, the broker or the marks:

- The recent market of a symbol is the median M of its last `window_bars` accepted closes
  and their MAD. A bar whose high or low lies outside [M / r, M * r], r = max(floor_ratio,
  1 + mad_multiple * 1.4826 * MAD / M), is quarantined: held back, not delivered.
- It is released (with any bars held after it, in order) when the market confirms the new
  level: `confirm_bars` consecutive outlying bars within `floor_ratio` of the first, or
  `confirm_ticks` ticks whose bid and ask both sit there. A print back inside the range
  rejects what was held; those bars are dropped for good (the minute then reads as one
  without trades, ADR-003).
- Ticks outside the range are not applied while unconfirmed (they only count as evidence).

Thresholds: on the real Bittrex 1m data of 2017-11 and 2017-12 (378k bars, listings and
crashes included) the defaults quarantine no bar; a listing that falls 10x in ten minutes
moves the MAD with it. Before `min_bars` closes of a symbol the filter passes everything.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from model.market import Bar, BarBatch, BarHistory, Tick, TickBatch
from strategies.tick_kernel import bars_inside, ticks_inside

MAD_TO_SIGMA = 1.4826  # MAD of a normal sample x this = its standard deviation


@dataclass(frozen=True, slots=True)
class PrintFilterConfig:
    """How far is too far, and how much evidence confirms a new level."""

    window_bars: int = 30
    min_bars: int = 30  # a full window: a listing's first half hour swings 10x for real
    floor_ratio: float = 2.0  # never quarantine within a factor 2 of the median
    mad_multiple: float = 10.0
    confirm_bars: int = 3
    confirm_ticks: int = 3
    # The range is recomputed every this many accepted bars (two sorts of 30 per bar were a
    # tenth of a backtest's time); it is a factor-2-wide net, a few minutes old is fine.
    refresh_every: int = 5


@dataclass(frozen=True, slots=True)
class PrintCounts:
    """Counters for status and metrics."""

    quarantined_bars: int  # bars held back (every one, confirmed later or not)
    released_bars: int  # held bars delivered once the level was confirmed
    rejected_bars: int  # held bars dropped: the market came back
    quarantined_ticks: int  # ticks not applied
    confirmations: int  # new levels confirmed
    held_now: int  # bars held at this moment, all symbols


@dataclass
class _Symbol:
    closes: deque[float]
    low: float = 0.0  # the current range; (0, inf) until warm
    high: float = math.inf
    level: float | None = None  # the unconfirmed level, while bars or ticks sit outside
    held: list[Bar] = field(default_factory=list)
    bar_evidence: int = 0
    tick_evidence: int = 0
    since_refresh: int = 0


class PrintFilter:
    """Per-symbol robust range of recent closes; quarantines what falls far outside it."""

    def __init__(self, symbols: Iterable[str], config: PrintFilterConfig | None = None) -> None:
        self.config = config or PrintFilterConfig()
        self._symbols = {s: _Symbol(deque(maxlen=self.config.window_bars)) for s in symbols}
        self.quarantined_bars = self.released_bars = self.rejected_bars = 0
        self.quarantined_ticks = self.confirmations = 0
        self._batch_rows: dict[tuple[str, ...], np.ndarray] = {}
        self._low = np.zeros(len(self._symbols))
        self._high = np.full(len(self._symbols), math.inf)
        self._row = {s: i for i, s in enumerate(self._symbols)}

    def counts(self) -> PrintCounts:
        return PrintCounts(self.quarantined_bars, self.released_bars, self.rejected_bars,
                           self.quarantined_ticks, self.confirmations,
                           sum(len(s.held) for s in self._symbols.values()))

    def held(self, symbol: str) -> int:
        """Bars of `symbol` held back now."""
        state = self._symbols.get(symbol)
        return 0 if state is None else len(state.held)

    # -- history ---------------------------------------------------------------------------

    def load_history(self, history: BarHistory) -> None:
        """Seed the range from a backfill (the REST history the features warm from)."""
        state = self._symbols.get(history.symbol)
        if state is None or not len(history):
            return
        state.closes.extend(float(c) for c in history.close[-self.config.window_bars:])
        self._refresh(history.symbol, state)

    # -- bars ------------------------------------------------------------------------------

    def admit_bar(self, bar: Bar) -> list[Bar]:
        """The bars to deliver now: `[bar]` when it is inside the range (or the symbol is
        not warm), `[]` while it is quarantined, the held bars in order when `bar`
        confirms their level."""
        state = self._symbols.get(bar.symbol)
        if state is None:
            return [bar]
        if bar.low >= state.low and bar.high <= state.high:
            if state.level is not None:  # without a level nothing is held (nor evidence)
                self._reject_held(state)
            self._accept(bar.symbol, state, bar.close)
            return [bar]
        self.quarantined_bars += 1
        if state.level is not None and self._near(bar.close, state.level):
            state.held.append(bar)
            state.bar_evidence += 1
        else:
            self._reject_held(state)
            state.level, state.held = bar.close, [bar]
            state.bar_evidence, state.tick_evidence = 1, 0
        if state.bar_evidence >= self.config.confirm_bars:
            return self._confirm(bar.symbol, state)
        return []

    def admit_bar_batch(self, batch: BarBatch) -> bool:
        """`admit_bar` for every row of a minute's bars (one per symbol) when every row is
        inside its range: each is accepted, as there, and True means deliver them all.
        False, changing nothing, when any row is not: the caller admits them one by one."""
        if not bars_inside(self._rows_of(batch.symbols), self._low, self._high, batch.low,
                           batch.high):
            return False
        states = self._symbols
        for symbol, close in zip(batch.symbols, batch.close.tolist()):
            state = states.get(symbol)
            if state is None:
                continue
            if state.level is not None:
                self._reject_held(state)
            self._accept(symbol, state, close)
        return True

    # -- ticks -----------------------------------------------------------------------------

    def admit_tick(self, tick: Tick) -> tuple[bool, list[Bar]]:
        """(apply the tick?, held bars it confirmed). A tick outside the range is not
        applied; with bid and ask both at a held bar's level it counts as confirmation."""
        state = self._symbols.get(tick.symbol)
        if state is None or self._inside(state, tick.last, tick.bid, tick.ask):
            return True, []
        self.quarantined_ticks += 1
        if state.level is None or not (self._near(tick.bid, state.level)
                                       and self._near(tick.ask, state.level)):
            return False, []
        state.tick_evidence += 1
        if state.tick_evidence >= self.config.confirm_ticks:
            return False, self._confirm(tick.symbol, state)
        return False, []

    def admit_batch(self, batch: TickBatch) -> tuple[TickBatch | None, list[Bar]]:
        """`admit_tick` for a ticker array: the rows to apply (the same batch when all are
        inside their ranges: one compiled call, strategies/tick_kernel.py) and any bars
        confirmed."""
        if not len(batch):
            return batch, []
        rows = self._rows_of(batch.symbols)
        if ticks_inside(rows, self._low, self._high, batch.last, batch.bid, batch.ask):
            return batch, []
        low, high = self._low[rows], self._high[rows]
        ok = np.ones(len(batch), dtype=bool)
        for prices in (batch.last, batch.bid, batch.ask):
            ok &= np.isnan(prices) | ((prices >= low) & (prices <= high))
        released: list[Bar] = []
        for i in np.flatnonzero(~ok).tolist():
            apply, bars = self.admit_tick(batch.row(i))
            ok[i] = apply
            released.extend(bars)
        if not ok.any():
            return None, released
        return batch.select(ok), released

    # -- internals -------------------------------------------------------------------------

    def _inside(self, state: _Symbol, *prices: float) -> bool:
        return all(math.isnan(p) or state.low <= p <= state.high for p in prices)

    def _near(self, price: float, level: float) -> bool:
        ratio = self.config.floor_ratio
        return level / ratio <= price <= level * ratio

    def _accept(self, symbol: str, state: _Symbol, close: float) -> None:
        state.closes.append(close)
        state.since_refresh += 1
        if state.since_refresh >= self.config.refresh_every or state.high == math.inf:
            self._refresh(symbol, state)

    def _confirm(self, symbol: str, state: _Symbol) -> list[Bar]:
        """The market stands at the new level: restart the range there, release the bars."""
        held = state.held
        self.confirmations += 1
        self.released_bars += len(held)
        state.closes.clear()
        state.closes.extend(bar.close for bar in held)
        state.level, state.held = None, []
        state.bar_evidence = state.tick_evidence = 0
        self._refresh(symbol, state, warm=True)
        return held

    def _reject_held(self, state: _Symbol) -> None:
        self.rejected_bars += len(state.held)
        state.level, state.held = None, []
        state.bar_evidence = state.tick_evidence = 0

    def _refresh(self, symbol: str, state: _Symbol, warm: bool = False) -> None:
        """Recompute the range from the window (sorted lists: cheaper than numpy for 30)."""
        closes = state.closes
        if not warm and len(closes) < self.config.min_bars:
            return
        state.since_refresh = 0
        ordered = sorted(closes)
        median = _median(ordered)
        if not median > 0.0:  # only if fed without the feed edge's checks: stay open
            return
        mad = _median(sorted([abs(c - median) for c in ordered]))
        ratio = max(self.config.floor_ratio,
                    1.0 + self.config.mad_multiple * MAD_TO_SIGMA * mad / median)
        state.low, state.high = median / ratio, median * ratio
        row = self._row[symbol]
        self._low[row], self._high[row] = state.low, state.high

    def _rows_of(self, symbols: tuple[str, ...]) -> np.ndarray:
        """Rows of a batch's symbols in the range arrays (cached per symbol tuple); a
        symbol outside the universe gets the always-open last row."""
        rows = self._batch_rows.get(symbols)
        if rows is None:
            if len(self._low) == len(self._row):  # one open row for strangers, once
                self._low = np.append(self._low, 0.0)
                self._high = np.append(self._high, math.inf)
            outside = len(self._row)
            rows = np.array([self._row.get(s, outside) for s in symbols], dtype=np.int64)
            if len(self._batch_rows) >= 64:  # a live array's symbols vary frame to frame
                self._batch_rows.clear()
            self._batch_rows[symbols] = rows
        return rows



def _median(ordered: list[float]) -> float:
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])

