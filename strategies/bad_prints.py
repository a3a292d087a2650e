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
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from model.market import Bar, BarBatch, BarHistory, Tick, TickArrays, TickBatch
from strategies.print_kernel import accept_batch, accept_close, refresh_range
from strategies.tick_kernel import arrays_inside, ticks_inside


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
    """A symbol's quarantine; its window of closes and range are rows of PrintFilter's
    arrays (strategies/print_kernel.py)."""

    row: int
    level: float | None = None  # the unconfirmed level, while bars or ticks sit outside
    held: list[Bar] = field(default_factory=list)
    bar_evidence: int = 0
    tick_evidence: int = 0


class PrintFilter:
    """Per-symbol robust range of recent closes; quarantines what falls far outside it."""

    def __init__(self, symbols: Iterable[str], config: PrintFilterConfig | None = None) -> None:
        self.config = config or PrintFilterConfig()
        names = dict.fromkeys(symbols)
        self._symbols = {s: _Symbol(i) for i, s in enumerate(names)}
        self.quarantined_bars = self.released_bars = self.rejected_bars = 0
        self.quarantined_ticks = self.confirmations = 0
        self._batch_rows: dict[tuple[str, ...], np.ndarray] = {}
        self._row = {s: state.row for s, state in self._symbols.items()}
        # One row per symbol plus a last, always open one for symbols outside the universe.
        rows = len(self._symbols) + 1
        self._low = np.zeros(rows)  # the current range; (0, inf) until warm
        self._high = np.full(rows, math.inf)
        self._window = np.zeros((rows, self.config.window_bars))  # accepted closes, a ring
        self._count = np.zeros(rows, dtype=np.int64)
        self._next_slot = np.zeros(rows, dtype=np.int64)
        self._since_refresh = np.zeros(rows, dtype=np.int64)
        self._has_level = np.zeros(rows, dtype=np.bool_)  # rows the batch path leaves alone

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
        for close in history.close[-self.config.window_bars:].tolist():
            self._append(state.row, float(close))
        self._refresh(state.row)

    # -- bars ------------------------------------------------------------------------------

    def admit_bar(self, bar: Bar) -> list[Bar]:
        """The bars to deliver now: `[bar]` when it is inside the range (or the symbol is
        not warm), `[]` while it is quarantined, the held bars in order when `bar`
        confirms their level."""
        state = self._symbols.get(bar.symbol)
        if state is None:
            return [bar]
        if bar.low >= self._low[state.row] and bar.high <= self._high[state.row]:
            if state.level is not None:  # without a level nothing is held (nor evidence)
                self._reject_held(state)
            self._accept(state.row, bar.close)
            return [bar]
        self.quarantined_bars += 1
        if state.level is not None and self._near(bar.close, state.level):
            state.held.append(bar)
            state.bar_evidence += 1
        else:
            self._reject_held(state)
            state.level, state.held = bar.close, [bar]
            state.bar_evidence, state.tick_evidence = 1, 0
            self._has_level[state.row] = True
        if state.bar_evidence >= self.config.confirm_bars:
            return self._confirm(bar.symbol, state)
        return []

    def admit_bar_batch(self, batch: BarBatch) -> bool:
        """`admit_bar` for every row of a minute's bars (one per symbol) when every row is
        inside its range: each is accepted, as there, and True means deliver them all.
        False, changing nothing, when any row is not, or holds bars of an unconfirmed
        level: the caller admits them one by one. One compiled call
        (strategies/print_kernel.py)."""
        config = self.config
        return bool(accept_batch(
            self._rows_of(batch.symbols), batch.close, batch.low, batch.high, self._has_level,
            self._window, self._count, self._next_slot, self._since_refresh, self._low,
            self._high, config.min_bars, config.refresh_every, config.floor_ratio,
            config.mad_multiple))

    # -- ticks -----------------------------------------------------------------------------

    def admit_tick(self, tick: Tick) -> tuple[bool, list[Bar]]:
        """(apply the tick?, held bars it confirmed). A tick outside the range is not
        applied; with bid and ask both at a held bar's level it counts as confirmation."""
        state = self._symbols.get(tick.symbol)
        if state is None or self._inside(state.row, tick.last, tick.bid, tick.ask):
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

    def arrays_inside(self, arrays: TickArrays) -> bool:
        """Whether every row of every array lies inside its range, so that `admit_batch`
        would apply each array whole and change nothing (one compiled call). False: the
        caller admits the arrays one by one."""
        return bool(arrays_inside(self._rows_of(arrays.symbols), self._low, self._high,
                                  arrays.table))

    # -- internals -------------------------------------------------------------------------

    def _inside(self, row: int, *prices: float) -> bool:
        low, high = float(self._low[row]), float(self._high[row])
        return all(math.isnan(p) or low <= p <= high for p in prices)

    def _near(self, price: float, level: float) -> bool:
        ratio = self.config.floor_ratio
        return level / ratio <= price <= level * ratio

    def _accept(self, row: int, close: float) -> None:
        """Add an accepted close to the window (the range refreshes every few)."""
        config = self.config
        accept_close(row, close, self._window, self._count, self._next_slot,
                     self._since_refresh, self._low, self._high, config.min_bars,
                     config.refresh_every, config.floor_ratio, config.mad_multiple)

    def _append(self, row: int, close: float) -> None:
        """Add a close to the window without a refresh (the oldest leaves when full)."""
        self._window[row, self._next_slot[row]] = close
        self._next_slot[row] = (self._next_slot[row] + 1) % self.config.window_bars
        self._count[row] = min(int(self._count[row]) + 1, self.config.window_bars)

    def _confirm(self, symbol: str, state: _Symbol) -> list[Bar]:
        """The market stands at the new level: restart the range there, release the bars."""
        held = state.held
        self.confirmations += 1
        self.released_bars += len(held)
        self._count[state.row] = self._next_slot[state.row] = 0
        for bar in held:
            self._append(state.row, float(bar.close))
        state.level, state.held = None, []
        state.bar_evidence = state.tick_evidence = 0
        self._has_level[state.row] = False
        self._refresh(state.row, warm=True)
        return held

    def _reject_held(self, state: _Symbol) -> None:
        self.rejected_bars += len(state.held)
        state.level, state.held = None, []
        state.bar_evidence = state.tick_evidence = 0
        self._has_level[state.row] = False

    def _refresh(self, row: int, warm: bool = False) -> None:
        """Recompute the range from the window (strategies/print_kernel.py)."""
        config = self.config
        refresh_range(row, warm, self._window, self._count, self._since_refresh, self._low,
                      self._high, config.min_bars, config.floor_ratio, config.mad_multiple)

    def _rows_of(self, symbols: tuple[str, ...]) -> np.ndarray:
        """Rows of a batch's symbols in the range arrays (cached per symbol tuple); a
        symbol outside the universe gets the always-open last row."""
        rows = self._batch_rows.get(symbols)
        if rows is None:
            outside = len(self._row)
            rows = np.array([self._row.get(s, outside) for s in symbols], dtype=np.int64)
            if len(self._batch_rows) >= 64:  # a live array's symbols vary frame to frame
                self._batch_rows.clear()
            self._batch_rows[symbols] = rows
        return rows


