"""The compiled ring update against the array form it replaced: the same state, bit for bit.

`BarRings.append_rows` and `_query_ranges` run strategies/rolling_kernel.py; the numpy
forms they replaced are kept below as oracles (`append_rows_oracle`, `query_ranges_oracle`).
Two rings fed the same random minutes (first bars, late listings in any row order, zero
volumes, flat bars, new range extremes, windows wrapping) must hold identical arrays: every
sum, count, ring slot and range line.
"""

from __future__ import annotations

import numpy as np
import pytest

from model import libm
from strategies.feature_columns import feature_volume
from strategies.rolling import EXACT_EVERY, N_BLOCKS, BarRings
from strategies.rolling_kernel import (
    _slot_back,
    any_lagging,
    append_rows_kernel,
    next_minute_rows,
    query_flagged_ranges_kernel,
)
from strategies.windows import (
    AVERAGE_WINDOWS_ARRAY,
    PRICE_CAPACITY,
    RANGE_BLOCK,
    RANGE_CAPACITY,
    RANGE_WINDOWS,
    RANGE_WINDOWS_ARRAY,
    RETURN_CAPACITY,
    RETURN_WINDOWS_ARRAY,
    SQUARE_SLOTS_ARRAY,
)
from tests.unit.test_exact_sums_kernel import recompute_sums_oracle

LAST_HOUR = np.arange(RANGE_WINDOWS[0], dtype=np.int64)
HEAD = np.arange(RANGE_BLOCK - 1, dtype=np.int64)


def append_rows_oracle(self: BarRings, rows: np.ndarray, minute: np.ndarray, close: np.ndarray,
            high: np.ndarray, low: np.ndarray, quote_volume: np.ndarray) -> None:
    """The array form `append_rows` had before its compiled kernel, kept as the oracle (the
    quote volume rounded to the ring's float32 precision, as the kernel rounds it)."""
    quote_volume = feature_volume(quote_volume)
    first = self.n_seen[rows] == 0
    self.first_minute[rows[first]] = minute[first]
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = np.where(first, 0.0, libm.log(close / self.close[rows]))
    column = rows[:, None]

    slots = (minute[:, None] - AVERAGE_WINDOWS_ARRAY) % PRICE_CAPACITY
    leave_close = self.ring_close[column, slots]
    leave_qv = self.ring_qv[column, slots]
    self.sum_close[rows] += close[:, None] - leave_close
    sum_qv = self.sum_qv[rows] + (quote_volume[:, None] - leave_qv)
    nonzero_qv = self.nonzero_qv[rows] + ((quote_volume != 0.0)[:, None].astype(np.int64)
                                          - (leave_qv != 0.0))
    # Exact zeros: a window with no volume must not carry drift.
    self.sum_qv[rows] = np.where(nonzero_qv == 0, 0.0, sum_qv)
    self.nonzero_qv[rows] = nonzero_qv
    slot = minute % PRICE_CAPACITY
    self.ring_close[rows, slot] = close
    self.ring_qv[rows, slot] = quote_volume

    slots = (minute[:, None] - RETURN_WINDOWS_ARRAY) % RETURN_CAPACITY
    leave_ret = self.ring_ret[column, slots]
    nonzero_ret = self.nonzero_ret[rows] + ((ret != 0.0)[:, None].astype(np.int64)
                                            - (leave_ret != 0.0))
    sum_ret = self.sum_ret[rows] + (ret[:, None] - leave_ret)
    self.sum_ret[rows] = np.where(nonzero_ret == 0, 0.0, sum_ret)
    leave_sq = leave_ret[:, SQUARE_SLOTS_ARRAY]
    sum_ret2 = self.sum_ret2[rows] + ((ret * ret)[:, None] - leave_sq * leave_sq)
    self.sum_ret2[rows] = np.where(nonzero_ret[:, SQUARE_SLOTS_ARRAY] == 0, 0.0, sum_ret2)
    self.nonzero_ret[rows] = nonzero_ret
    self.ring_ret[rows, minute % RETURN_CAPACITY] = ret
    self.ring_simple[rows, minute % RETURN_CAPACITY] = libm.expm1(ret)

    # Range lines: the value leaving each window is read before the write (the 1w
    # window's leaving minute shares the slot being written).
    slots = (minute[:, None] - RANGE_WINDOWS_ARRAY) % RANGE_CAPACITY
    leave_high = self.ring_high[column, slots]
    leave_low = self.ring_low[column, slots]
    slot = minute % RANGE_CAPACITY
    self.ring_high[rows, slot] = high
    self.ring_low[rows, slot] = low
    block = (minute // RANGE_BLOCK) % N_BLOCKS
    starts = first | (minute % RANGE_BLOCK == 0)
    self.block_high[rows, block] = np.where(starts, high,
                                            np.fmax(self.block_high[rows, block], high))
    self.block_low[rows, block] = np.where(starts, low,
                                           np.fmin(self.block_low[rows, block], low))
    old_high, old_low = self.high[rows], self.low[rows]
    # O(1) unless an extreme itself leaves its window; those rows get a block query.
    requery = first | (leave_high >= old_high).any(axis=1) | (
        leave_low <= old_low).any(axis=1)
    self.high[rows] = np.fmax(old_high, high[:, None])
    self.low[rows] = np.fmin(old_low, low[:, None])

    self.minute[rows] = minute
    self.n_seen[rows] += 1
    self.close[rows] = close
    if requery.any():
        query_ranges_oracle(self, rows[requery])
    for row in rows[(self.n_seen[rows] + rows) % EXACT_EVERY == 0].tolist():
        recompute_sums_oracle(self, row)  # the numpy form of the compiled re-summation


def query_ranges_oracle(self: BarRings, rows: np.ndarray) -> None:
    """The array form `_query_ranges` had before its compiled kernel, kept as the oracle."""
    rows = np.atleast_1d(rows)
    minute = self.minute[rows][:, None]
    column = rows[:, None]
    slots = (minute - LAST_HOUR) % RANGE_CAPACITY
    self.high[rows, 0] = self.ring_high[column, slots].max(axis=1)
    self.low[rows, 0] = self.ring_low[column, slots].min(axis=1)
    for k in range(1, len(RANGE_WINDOWS)):
        window = RANGE_WINDOWS[k]
        blocks = (minute // RANGE_BLOCK - np.arange(window // RANGE_BLOCK)) % N_BLOCKS
        first = minute - window + 1
        head = first + HEAD
        in_head = head < -(-first // RANGE_BLOCK) * RANGE_BLOCK
        head = head % RANGE_CAPACITY
        high = np.fmax(self.block_high[column, blocks].max(axis=1),
                       np.where(in_head, self.ring_high[column, head], -np.inf).max(axis=1))
        low = np.fmin(self.block_low[column, blocks].min(axis=1),
                      np.where(in_head, self.ring_low[column, head], np.inf).min(axis=1))
        self.high[rows, k] = high
        self.low[rows, k] = low


def _assert_same(compiled: BarRings, oracle: BarRings, minute: int) -> None:
    mine = {k: v for k, v in vars(compiled).items() if isinstance(v, np.ndarray)}
    theirs = {k: v for k, v in vars(oracle).items() if isinstance(v, np.ndarray)}
    # The decimal rings (strategies/decimal_ring.py) read as the oracle's float64 arrays.
    every_row = np.arange(compiled.close.size)[:, None]
    mine["ring_close"] = compiled.ring_close[every_row, np.arange(PRICE_CAPACITY)[None, :]]
    mine["ring_high"] = compiled.ring_high[every_row, np.arange(RANGE_CAPACITY)[None, :]]
    mine["ring_low"] = compiled.ring_low[every_row, np.arange(RANGE_CAPACITY)[None, :]]
    assert mine.keys() == theirs.keys()
    for name, value in mine.items():
        assert value.dtype == theirs[name].dtype, name
        assert value.tobytes() == theirs[name].tobytes(), f"{name} differs at minute {minute}"


@pytest.mark.parametrize(("seed", "close_decimals"), [(1, None), (2, None), (3, 8), (4, 4)])
def test_the_compiled_update_equals_the_array_form(seed: int, close_decimals: int | None) -> None:
    """Closes as any float (every close row falls back to float64) or as decimal strings
    (rows kept as int32 counts, and rows whose prices outgrow them fall back mid-run)."""
    rng = np.random.default_rng(seed)
    n = 7
    compiled, oracle = BarRings(n), BarRings(n)
    oracle.ring_close = np.zeros((n, PRICE_CAPACITY))  # type: ignore[assignment]
    oracle.ring_high = np.full((n, RANGE_CAPACITY), -np.inf)  # type: ignore[assignment]
    oracle.ring_low = np.full((n, RANGE_CAPACITY), np.inf)  # type: ignore[assignment]
    listed = rng.integers(0, 400, n)  # late listings
    price = np.exp(rng.normal(3.0, 2.0, n))
    for minute in range(1600):
        move = rng.normal(0.0, 0.004, n) * (rng.random(n) > 0.3)  # flat minutes: zero returns
        price = price * np.exp(move)
        rows = np.flatnonzero(minute >= listed)
        rng.shuffle(rows)  # rows come in any order
        close = price[rows]
        if close_decimals is not None:
            close = np.array([float(f"{c:.{close_decimals}f}") for c in close])
        wick = rng.random(rows.size) > 0.1
        high = close * (1.0 + rng.exponential(0.002, rows.size) * wick)
        low = close * (1.0 - rng.exponential(0.002, rows.size) * wick)
        if close_decimals is not None:
            high = np.maximum(np.array([float(f"{h:.{close_decimals}f}") for h in high]), close)
            low = np.minimum(np.array([float(f"{x:.{close_decimals}f}") for x in low]), close)
        volume = rng.exponential(50.0, rows.size) * (rng.random(rows.size) > 0.2)  # zeros
        quiet = rng.random(rows.size) < 0.05  # no trade: a flat bar at the last close
        known = compiled.n_seen[rows] > 0
        flat = quiet & known
        close[flat] = compiled.close[rows[flat]]
        high[flat], low[flat], volume[flat] = close[flat], close[flat], 0.0
        minutes = np.full(rows.size, minute, dtype=np.int64)
        compiled.append_rows(rows, minutes, close, high, low, volume)
        append_rows_oracle(oracle, rows, minutes, close, high, low, volume)
        if minute % 20 == 0 or minute == 1599:  # a difference stays in the sums and rings
            _assert_same(compiled, oracle, minute)
    assert compiled.n_seen.min() > RANGE_BLOCK * 20  # windows wrapped, blocks cycled
    every_row = np.arange(n)  # a re-query of every row (as append_many does) agrees too
    compiled._query_ranges(every_row)
    query_ranges_oracle(oracle, every_row)
    _assert_same(compiled, oracle, minute)
    if close_decimals is not None:
        for ring in (compiled.ring_close, compiled.ring_high, compiled.ring_low):
            assert ring.rows_on_grid > 0


def test_a_minute_appended_in_one_call_equals_its_clamps_then_append_rows() -> None:
    """`append_minute` (one compiled call) leaves the rings as `next_minute_rows`' clamps
    then `append_rows` (re-queries and periodic re-summations included) left them, and
    refuses, changing nothing, a minute with a row that is not its symbol's next one or
    has no positive close."""
    rng = np.random.default_rng(8)
    n = 6
    fused, stepwise = BarRings(n), BarRings(n)
    price = np.exp(rng.normal(2.0, 1.0, n))
    refused = 0
    for minute in range(700):
        price = price * np.exp(rng.normal(0.0, 0.004, n))
        rows = rng.permutation(n).astype(np.int64)
        close = price[rows].copy()
        high = close * (1.0 + rng.exponential(0.002, n))
        low = close * (1.0 - rng.exponential(0.002, n))
        volume = rng.exponential(50.0, n)
        quote_volume = volume * close
        odd = rng.random(n)
        high[odd < 0.05] = np.nan  # clamped to the close
        low[(odd > 0.05) & (odd < 0.1)] = close[(odd > 0.05) & (odd < 0.1)] * 2.0
        quote_volume[(odd > 0.1) & (odd < 0.15)] = np.nan  # volume x close instead
        quote_volume[(odd > 0.15) & (odd < 0.2)] = -1.0  # 0 instead
        if rng.random() < 0.03:  # a foreign row or a bad close: the whole minute is refused
            bad_rows, bad_close = rows.copy(), close.copy()
            if rng.random() < 0.5:
                bad_close[0] = -bad_close[0]
            else:
                bad_rows[0] = -1  # a symbol outside the universe
            before = {k: v.copy() for k, v in vars(fused).items() if isinstance(v, np.ndarray)}
            assert not fused.append_minute(bad_rows, minute, bad_close, high, low, volume,
                                           quote_volume)
            for name, value in before.items():
                assert value.tobytes() == getattr(fused, name).tobytes(), name
            refused += 1
        assert fused.append_minute(rows, minute, close, high, low, volume, quote_volume)
        ok, minutes, h, lo, qv = next_minute_rows(rows, stepwise.minute, stepwise.n_seen,
                                                  minute, close, high, low, volume,
                                                  quote_volume)
        assert ok
        stepwise.append_rows(rows, minutes, close, h, lo, qv)
        if minute % 25 == 0:
            _assert_fused_same(fused, stepwise, minute)
    _assert_fused_same(fused, stepwise, 700)
    assert refused > 5 and fused.n_seen.min() > EXACT_EVERY * 5


def _assert_fused_same(fused: BarRings, stepwise: BarRings, minute: int) -> None:
    for name, value in vars(fused).items():
        other = getattr(stepwise, name)
        if hasattr(value, "parts"):  # decimal rings: their parts
            value, other = value.parts, other.parts
            for a, b in zip(value, other, strict=True):
                same = (a.tobytes() == b.tobytes() if isinstance(a, np.ndarray)
                        else repr(a) == repr(b))
                assert same, f"{name} differs at minute {minute}"
        elif isinstance(value, np.ndarray):
            assert value.tobytes() == other.tobytes(), f"{name} differs at minute {minute}"


def test_any_lagging_is_the_array_forms_any() -> None:
    # given rings with and without history, last minutes before, at and after the target
    rng = np.random.default_rng(19)
    for trial in range(2000):
        n = int(rng.integers(0, 25))
        n_seen = np.where(rng.random(n) < 0.3, 0, rng.integers(1, 100, n)).astype(np.int64)
        minute = rng.integers(-1, 12, n).astype(np.int64)
        target = int(rng.integers(0, 12))
        # when the kernel asks whether a row with history ends before the target
        got = any_lagging(n_seen, minute, target)
        # then it answers as `FeatureBook.advance_to`'s array form
        assert got == bool(((n_seen > 0) & (minute < target)).any()), trial


def test_only_the_lines_whose_extreme_left_are_queried_and_every_line_is_its_windows_extreme(
        ) -> None:
    """A minute re-queries a range line only where the extreme left its window; every line
    stays what a full re-query of all windows gives, bit for bit, through the week's window
    wrapping: prices on a coarse grid (many equal extremes), minutes in one call, late rows."""
    rng = np.random.default_rng(23)
    n = 3
    rings = BarRings(n)
    price = np.array([1.0, 20.0, 300.0])
    queried = np.zeros(len(RANGE_WINDOWS), dtype=np.int64)
    checked = 0
    for minute in range(RANGE_WINDOWS[-1] + 3 * RANGE_BLOCK + 7):
        price = price * np.exp(rng.normal(0.0, 0.003, n))
        rows = np.flatnonzero(minute >= np.array([0, 5, 900])).astype(np.int64)
        close = np.round(price[rows], 1 if rng.random() < 0.5 else 2)
        close = np.maximum(close, 0.01)
        high = np.round(close * (1.0 + rng.exponential(0.001, rows.size)), 2)
        low = np.round(close * (1.0 - rng.exponential(0.001, rows.size)), 2)
        volume = rng.exponential(50.0, rows.size)
        before_high, before_low = rings.high.copy(), rings.low.copy()
        assert rings.append_minute(rows, minute, close, high, low, volume, volume * close)
        changed = (rings.high != before_high) | (rings.low != before_low)
        queried += changed.sum(axis=0)
        if minute % 7 == 0 or minute > RANGE_WINDOWS[-1]:
            got_high, got_low = rings.high.copy(), rings.low.copy()
            rings._query_ranges(rows)  # every window of every listed row, from the rings
            assert got_high.tobytes() == rings.high.tobytes(), minute
            assert got_low.tobytes() == rings.low.tobytes(), minute
            checked += 1
    assert checked > 1000 and (queried > 0).all()  # every window's line moved, 1w included


def test_an_append_flags_only_the_windows_whose_extreme_leaves() -> None:
    """One row with a known past: the hour's high leaves at this minute, the day's and the
    week's do not; only the hour's line is flagged, and all three lines are right."""
    rings = BarRings(1)
    start = 0
    closes = np.full(200, 10.0)
    closes[200 - 60] = 12.0  # the hour's (and day's, week's) high, 60 minutes back
    closes[200 - 150] = 13.0  # an older, higher one: the day's and week's high
    rings.append_many(0, start, closes, closes, closes, np.ones(200))
    minute = np.array([start + 200], dtype=np.int64)
    one = np.array([10.0])
    flagged = append_rows_kernel(np.array([0], dtype=np.int64), minute, one, one, one, one,
                                 *rings._ring_state())
    assert flagged.tolist() == [[True, False, False]]
    rings.minute[0] = start + 200  # (as after the kernel: the row's last minute)
    got = rings.high.copy()
    query_flagged_ranges_kernel(np.array([0], dtype=np.int64), flagged, rings.minute,
                                rings.ring_high.parts, rings.ring_low.parts, rings.block_high,
                                rings.block_low, rings.high, rings.low, RANGE_WINDOWS_ARRAY,
                                RANGE_BLOCK)
    assert rings.high[0].tolist() == [10.0, 13.0, 13.0]
    assert got[0, 1:].tolist() == [13.0, 13.0]  # the O(1) lines the query left alone


def test_a_slot_counted_back_is_the_modulo_of_the_minute_counted_back() -> None:
    rng = np.random.default_rng(5)
    for _ in range(3000):
        capacity = int(rng.integers(1, 50))
        minute = int(rng.integers(-200, 10_000))
        back = int(rng.choice([rng.integers(0, capacity + 1), rng.integers(-300, 300)]))
        assert _slot_back(minute % capacity, back, capacity) == (minute - back) % capacity
