"""Warming the anomaly detector from the REST backfill, so it scores from the first live minute.

Why: the detector's inputs are z-scores against each coin's exponentially weighted mean and
variance (one-day half-life), and a coin is scored only after `warmup_minutes` rows. Fed
only live minutes, a restarted daemon would trade a whole day blind. The feed backfills
weeks of closed 1m bars at start anyway (for the features); `BackfillWarmup` keeps those
histories until the first decision step, turns them into the same features the daemon
computes live (`features_from_history` equals `FeatureBook.matrix()` minute by minute, with
"last" = the last close, as `bar_features` does live) and folds them, oldest first, through
the detector's own `EwmStandardizer.update` - the one formula training used (ADR-036).

Only the newest `max_rows` minutes are folded: the statistics forget with a one-day
half-life, so older rows change them by less than 2^-6 after six half-lives. Even so the
features need the month-long windows, which costs seconds for tens of coins: the daemon
runs `warmed_standardizer` in a worker thread before its first decision
(`AnomalyDetector.warmup_job`, awaited by the engine), and the backtester folds in line.
Past minutes raise no alarms (an alarm from before the restart is not replayed into the
cool-down).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import fields

import numpy as np

from model.market import MINUTE_MS, BarHistory, concat_histories
from risk.anomaly_features import EwmStandardizer, select_inputs
from strategies.feature_columns import Primitives, assemble
from strategies.features_batch import MinuteGrid, grid_primitives

log = logging.getLogger(__name__)

#: Half-lives of history folded beyond the warm-up (older rows weigh < 2^-6).
FOLD_HALFLIVES = 6
#: Rows assembled into features at a time (bounds memory for large universes).
CHUNK_ROWS = 1440


def fold_rows(warmup_minutes: int, halflife_minutes: float) -> int:
    """How many of the newest backfilled minutes are worth folding."""
    return int(warmup_minutes + FOLD_HALFLIVES * halflife_minutes)


class BackfillWarmup:
    """Backfilled histories, held until the detector's first scored minute, then folded."""

    def __init__(self) -> None:
        self._histories: dict[str, list[BarHistory]] = {}
        self.done = False
        self.rows_folded = 0

    def add(self, history: BarHistory) -> None:
        """Keep one symbol's backfilled bars (ignored once the detector went live)."""
        if self.done:
            log.debug("backfill of %s after the first scored minute: not folded", history.symbol)
            return
        if len(history):
            self._histories.setdefault(history.symbol, []).append(history)

    @property
    def pending(self) -> bool:
        """True while histories wait to be folded."""
        return bool(self._histories) and not self.done

    def take(self) -> list[BarHistory]:
        """Every symbol's backfill as one history each; later backfills are ignored."""
        self.done = True
        histories = [_joined(parts) for parts in self._histories.values()]
        self._histories = {}
        return histories


def warmed_standardizer(histories: Sequence[BarHistory], symbols: Sequence[str],
                        before_ms: int, floor: np.ndarray, halflife_minutes: float,
                        max_rows: int) -> tuple[EwmStandardizer, int]:
    """Fresh statistics for `symbols` with every backfilled minute that closed before
    `before_ms` folded in (the newest `max_rows`), and how many minutes that was.

    Pure (touches nothing shared), so the daemon runs it in a worker thread: for tens of
    coins and a month of backfill it takes seconds, mostly the month-long windows."""
    standardizer = EwmStandardizer(len(symbols), floor, halflife_minutes)
    wanted = set(symbols)
    histories = [h for h in histories if h.symbol in wanted]
    if not histories:
        return standardizer, 0
    grid = MinuteGrid.from_histories(histories, symbols=symbols)
    usable = int(np.searchsorted(grid.open_ms, before_ms - MINUTE_MS, side="left"))
    first = max(0, usable - max_rows)
    if usable <= first:
        return standardizer, 0
    primitives = grid_primitives(grid)
    for start in range(first, usable, CHUNK_ROWS):
        rows = slice(start, min(start + CHUNK_ROWS, usable))
        for row in select_inputs(assemble(_rows_of(primitives, rows))):
            standardizer.update(row)
    log.info("anomaly detector warmed on %d backfilled minutes of %d symbols",
             usable - first, len(histories))
    return standardizer, usable - first


def _rows_of(primitives: Primitives, rows: slice) -> Primitives:
    return Primitives(**{f.name: getattr(primitives, f.name)[rows] for f in fields(Primitives)})


def _joined(parts: list[BarHistory]) -> BarHistory:
    """One history of a symbol's backfill parts, oldest first."""
    ordered = sorted(parts, key=lambda h: int(h.open_ms[0]))
    return concat_histories(ordered[0].symbol, ordered)
