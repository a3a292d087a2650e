"""Rolling walk-forward folds: train on one window, test on the next, never the other way.

Fold k trains on rows [s, s + train) and is tested on [s + train + embargo, s + train +
embargo + test), with s = k × test: the folds roll by one test window, so the test windows
sit end to end and their returns concatenate into one out-of-sample series. The embargo is a
gap between the two (features and labels that reach across it would leak the test period
into training). A fold is kept only when its test window ends inside the data: a shorter last
window would weigh as much as a full one in every per-fold figure.

Rows, not times, are the unit: row r of a `BarGrid` opens at `start_ms + r × bar_ms`, and a
duration in days must be a whole number of bars. A test may read the rows before its window
(indicator warm-up, the training window itself) and never a row after it: the runner hands
a task `grid_rows(grid, fold.train_start_row, fold.test_stop_row)`, so a policy cannot look
ahead even by mistake.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from model import errors
from model.timeframes import DAY_MS, duration_text
from strategies.features_batch import BarGrid


class FoldSettingsError(errors.ConfigError, ValueError):
    """Train, test or embargo days that cannot make a fold (≤ 0, negative, not whole bars);
    the message names the option to change."""


class NoFoldFits(errors.DataError, ValueError):
    """The data is too short for even one complete fold; the message gives the span needed
    and the span there is."""


@dataclass(frozen=True, slots=True)
class Fold:
    """One train/test split, in grid rows (stop rows exclusive) with their times."""

    index: int
    train_start_row: int
    train_stop_row: int
    test_start_row: int
    test_stop_row: int
    start_ms: int  # open time of grid row 0
    bar_ms: int

    def open_ms(self, row: int) -> int:
        """Open time of grid row `row`."""
        return self.start_ms + row * self.bar_ms

    def as_dict(self) -> dict[str, int | str]:
        """Start and end (exclusive) of both windows, as UTC ISO text and epoch ms."""
        bounds = {"train_start": self.train_start_row, "train_end": self.train_stop_row,
                  "test_start": self.test_start_row, "test_end": self.test_stop_row}
        out: dict[str, int | str] = {"index": self.index}
        for name, row in bounds.items():
            out[name] = iso_utc(self.open_ms(row))
            out[f"{name}_ms"] = self.open_ms(row)
        return out


def iso_utc(ts_ms: int) -> str:
    """`2018-01-01T00:00Z`: a fold boundary for tables and JSON."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


def days_in_bars(days: float, bar_ms: int, option: str, *, allow_zero: bool = False) -> int:
    """`days` as a whole number of bars of `bar_ms`; `FoldSettingsError` naming `option`
    when it is not positive (or negative, with `allow_zero`) or not whole bars."""
    if not math.isfinite(days) or days < 0 or (days == 0 and not allow_zero):
        need = "≥ 0" if allow_zero else "> 0"
        raise FoldSettingsError(f"{option} must be {need} days, got {days:g}")
    bars = days * DAY_MS / bar_ms
    if abs(bars - round(bars)) > 1e-9:
        raise FoldSettingsError(f"{option} {days:g} is not a whole number of "
                                f"{duration_text(bar_ms)} bars; use a multiple of "
                                f"{bar_ms / DAY_MS:g} days")
    return round(bars)


def rolling_folds(start_ms: int, stop_ms: int, bar_ms: int, train_days: float,
                  test_days: float, embargo_days: float = 0.0) -> tuple[Fold, ...]:
    """Every complete rolling fold of the data [start_ms, stop_ms) (row 0 opens at
    `start_ms`, `stop_ms` is the end of the last bar), oldest first (see module doc)."""
    if bar_ms <= 0:
        raise FoldSettingsError(f"bar length must be > 0 ms, got {bar_ms}")
    train = days_in_bars(train_days, bar_ms, "--train-days")
    test = days_in_bars(test_days, bar_ms, "--test-days")
    embargo = days_in_bars(embargo_days, bar_ms, "--embargo-days", allow_zero=True)
    rows = max(0, (stop_ms - start_ms) // bar_ms)
    count = (rows - train - embargo - test) // test + 1 if rows >= train + embargo + test else 0
    if count <= 0:
        need_days = (train + embargo + test) * bar_ms / DAY_MS
        raise NoFoldFits(
            f"no complete fold fits the data: one fold needs {need_days:g} days "
            f"(train {train_days:g} + embargo {embargo_days:g} + test {test_days:g}), the data "
            f"spans {rows * bar_ms / DAY_MS:g} days ({iso_utc(start_ms)} to {iso_utc(stop_ms)});"
            " use shorter --train-days/--test-days or more data (--from/--to)")
    return tuple(
        Fold(index=k, train_start_row=k * test, train_stop_row=k * test + train,
             test_start_row=k * test + train + embargo,
             test_stop_row=k * test + train + embargo + test, start_ms=start_ms, bar_ms=bar_ms)
        for k in range(count))


def grid_folds(grid: BarGrid, train_days: float, test_days: float,
               embargo_days: float = 0.0) -> tuple[Fold, ...]:
    """`rolling_folds` over every row of `grid`."""
    rows = grid.close.shape[0]
    return rolling_folds(grid.start_ms, grid.start_ms + rows * grid.bar_ms, grid.bar_ms,
                         train_days, test_days, embargo_days)


def grid_rows(grid: BarGrid, start_row: int, stop_row: int) -> BarGrid:
    """Rows [start_row, stop_row) of `grid` as a grid of their own (views, no copy), row 0
    opening at the first of them."""
    if not 0 <= start_row <= stop_row <= grid.close.shape[0]:
        raise ValueError(f"rows [{start_row}, {stop_row}) are outside the grid's "
                         f"{grid.close.shape[0]} rows")
    return replace(grid, start_ms=grid.start_ms + start_row * grid.bar_ms,
                   open=grid.open[start_row:stop_row], high=grid.high[start_row:stop_row],
                   low=grid.low[start_row:stop_row], close=grid.close[start_row:stop_row],
                   quote_volume=grid.quote_volume[start_row:stop_row])


def time_rows(grid: BarGrid, from_ms: int | None, to_ms: int | None) -> BarGrid:
    """The rows of `grid` opening in [from_ms, to_ms) (either bound open): `--from/--to`."""
    rows = grid.close.shape[0]
    start = 0 if from_ms is None else min(rows, max(0, -(-(from_ms - grid.start_ms)
                                                         // grid.bar_ms)))
    stop = rows if to_ms is None else min(rows, max(start, -(-(to_ms - grid.start_ms)
                                                             // grid.bar_ms)))
    return grid_rows(grid, start, stop)
