"""A replayed minute's ticker arrays as one TickArrays: the same effects as array by array.

The direct replay may hand the engine a minute's ticker arrays together (`ReplayFeed(...,
on_tick_arrays=...)`): judged by the feed edge, the bad-print filter and stored by the
feature book in one call each, falling back to the arrays one by one (`on_tick_batch`)
whenever a row might not pass as it is (an invalid row, a print outside its range, an
isolated symbol). The contract: the same engine, ledger and counters as the wire path and
as the direct path without it, on clean and corrupted data; and each one-call kernel equals
its per-array kernel applied array after array.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from exchange.feeds.replay import ReplayFeed
from exchange.feeds.sanity import FrameValidator
from exchange.feeds.sanity_kernel import (
    TS_LIMIT_MAX,
    ticker_arrays_admit,
    ticker_arrays_pass,
    ticker_rows_pass,
)
from exchange.feeds.sanity_rules import MAX_AMOUNT
from exchange.sim.bars import MinuteData
from exchange.sim.source import MarketSource
from model.market import TickArrays
from strategies.tick_kernel import arrays_inside, store_tick_arrays, store_ticks, ticks_inside
from tests.unit.test_replay_bar_batches import Bogus, play
from tests.unit.test_replay_direct import AlteredSource, Corrupted, generated


def assert_same_three_ways(make_source: Callable[[], MarketSource], *, minutes: int = 30,
                           isolate: str | None = None) -> list[int]:
    """Wire, direct and direct with TickArrays leave the same; returns the arrays' sizes."""
    wire = play(make_source(), direct=False, minutes=minutes, policy="sma", isolate=isolate)
    direct = play(make_source(), direct=True, minutes=minutes, policy="sma", isolate=isolate)
    arrays = play(make_source(), direct=True, minutes=minutes, policy="sma", isolate=isolate,
                  arrays=True)
    delivered = arrays.pop("arrays")
    assert direct.pop("arrays") == wire.pop("arrays") == []
    assert arrays == direct  # message counts included
    for seen in (arrays, direct, wire):
        seen.pop("batches")
        seen.pop("messages")
    assert arrays == wire
    return delivered


def test_clean_minutes_come_as_arrays_with_the_array_by_array_effects() -> None:
    delivered = assert_same_three_ways(generated(coins=5, seed=3))
    assert len(delivered) >= 25 and set(delivered) == {4}  # four arrays a minute, as one


def test_invalid_ticker_rows_fall_back_to_array_by_array() -> None:
    delivered = assert_same_three_ways(lambda: Corrupted(generated(coins=4, seed=6)()))
    assert 0 < len(delivered) < 30


def test_prints_outside_their_range_fall_back_to_array_by_array() -> None:
    delivered = assert_same_three_ways(lambda: Bogus(generated(coins=4, seed=8)()))
    assert delivered  # the minutes before the bogus prints


class ZeroBids(AlteredSource):
    """A generated market whose second coin quotes a zero bid at one tick of some minutes:
    the parser takes it (a number >= 0), the feed edge drops the row."""

    def alter(self, data: MinuteData) -> MinuteData:
        if self.minutes % 4 == 1 and len(data.bars) > 1:
            data.ticks.bid[2, 1] = 0.0
        return data


def test_rows_the_feed_edge_drops_make_the_arrays_go_one_by_one() -> None:
    delivered = assert_same_three_ways(lambda: ZeroBids(generated(coins=4, seed=9)()))
    assert 0 < len(delivered) < 30


def test_an_isolated_symbol_makes_the_arrays_go_one_by_one() -> None:
    make = generated(coins=4, seed=4)
    assert_same_three_ways(make, isolate=make().instruments[1].symbol)


def _random_arrays(rng: np.random.Generator, k: int, n: int,
                   odd_share: float = 1.0) -> TickArrays:
    table = rng.uniform(0.5, 2.0, (k, 7, n))
    table[:, 2] = table[:, 1] * rng.uniform(0.999, 1.01, (k, n))  # ask mostly >= bid
    draws = rng.random((k, 7, n))  # drawn at any share: the table after it stays the same
    odd = draws / odd_share if odd_share > 0 else np.full_like(draws, np.inf)  # 0: none odd
    table[odd < 0.01] = np.nan
    table[(odd > 0.01) & (odd < 0.015)] = -1.0
    table[(odd > 0.015) & (odd < 0.02)] = 3e18
    ts = np.sort(rng.integers(0, 10**6, k)).astype(np.int64)
    return TickArrays(tuple(f"S{i}" for i in range(n)), ts, np.ascontiguousarray(table))


def test_the_arrays_check_is_the_rows_check_array_after_array() -> None:
    rng = np.random.default_rng(31)
    passed = 0
    for _ in range(3000):
        k, n = int(rng.integers(1, 5)), int(rng.integers(1, 6))
        arrays = _random_arrays(rng, k, n)
        lo, hi = rng.uniform(0.0, 0.6, n), rng.uniform(1.5, 3.0, n)
        limits = arrays.ts_event + rng.integers(-3, 10**5, k)
        expected, newest = True, int(arrays.ts_event[0])
        for j in range(k):
            ok, latest = ticker_rows_pass(
                arrays.table[j, 1], arrays.table[j, 2], arrays.table[j, 0], arrays.table[j, 3],
                arrays.table[j, 4], arrays.table[j, 5], arrays.table[j, 6],
                np.full(n, arrays.ts_event[j]), lo, hi, int(limits[j]), MAX_AMOUNT)
            if not ok:
                expected = False
                break
            newest = max(newest, int(latest))
        ok, latest = ticker_arrays_pass(arrays.table, arrays.ts_event, limits, lo, hi,
                                        MAX_AMOUNT)
        assert ok == expected
        if ok:
            passed += 1
            assert latest == newest
    assert 100 < passed < 2900  # both answers were exercised


def test_the_validator_admits_arrays_as_it_admits_them_one_by_one() -> None:
    """Times out of order and a limit below the clock (a negative `max_future_ms`) make
    each array's limit depend on the newest time admitted before it."""
    rng = np.random.default_rng(32)
    admitted_count = 0
    for trial in range(600):
        arrays = _random_arrays(rng, 4, 3, odd_share=float(rng.choice([0.0001, 1.0])))
        rng.shuffle(arrays.ts_event)
        future = int(rng.choice([120_000, -5, -300_000]))
        together = FrameValidator(max_future_ms=future)
        one_by_one = FrameValidator(max_future_ms=future)
        together.newest_ms = one_by_one.newest_ms = int(rng.integers(0, 2 * 10**6))
        whole = True
        for j, ts in enumerate(arrays.ts_event.tolist()):
            batch = arrays.batch(j)
            whole &= one_by_one.admit_batch(batch, ts) is batch
        before = together.newest_ms
        admitted = together.admit_arrays(arrays)
        assert admitted == whole, trial
        if admitted:
            admitted_count += 1
            assert together.newest_ms == one_by_one.newest_ms
        else:  # nothing changed: the caller goes array by array
            assert together.newest_ms == before and not together.invalid
    assert 50 < admitted_count < 550


@pytest.mark.parametrize("seed", [1, 2])
def test_the_arrays_range_check_and_store_equal_the_per_array_kernels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        k, n = int(rng.integers(1, 5)), int(rng.integers(1, 6))
        arrays = _random_arrays(rng, k, n)
        rows = rng.integers(-1, 4, n).astype(np.int64)
        rows[rows < 0] = -1
        rows_inside = np.where(rows < 0, 3, rows)
        low, high = rng.uniform(0.0, 0.7, 4), rng.uniform(1.4, 3.0, 4)
        expected = all(ticks_inside(rows_inside, low, high, *arrays.table[j, :3])
                       for j in range(k))
        assert arrays_inside(rows_inside, low, high, arrays.table) == expected
        books = [[rng.uniform(0, 1, 4), rng.integers(0, 9, 4).astype(np.int64),
                  *(rng.uniform(0, 1, 4) for _ in range(5))] for _ in range(2)]
        books[1] = [a.copy() for a in books[0]]
        for j in range(k):
            last, bid, ask, bid_qty, ask_qty, _, quote = arrays.table[j]
            store_ticks(rows, np.full(n, arrays.ts_event[j]), last, bid, ask, bid_qty,
                        ask_qty, quote, *books[0])
        store_tick_arrays(rows, arrays.ts_event, arrays.table, *books[1])
        for a, b in zip(books[0], books[1], strict=True):
            assert a.tobytes() == b.tobytes()


def python_limits(ts_event: np.ndarray, newest: int, future: int) -> np.ndarray:
    """`FrameValidator.admit_arrays`' limits as Python ints make them (the definition)."""
    limits = []
    for ts in ts_event.tolist():
        limits.append(min(max(ts, newest) + future, TS_LIMIT_MAX))
        newest = max(newest, ts)
    return np.array(limits, dtype=np.int64)


def test_the_kernel_makes_the_limits_python_ints_make() -> None:
    # given arrays with times out of order, near 0 and near the int64 top, clocks up to
    # 2**62 and future margins of both signs up to 2**62 (the validator's guard)
    rng = np.random.default_rng(41)
    span = 2**62
    for trial in range(3000):
        k, n = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        arrays = _random_arrays(rng, k, n, odd_share=float(rng.choice([0.0, 0.3])))
        times = rng.choice(np.array([0, 5, 10**6, span, TS_LIMIT_MAX - 1, TS_LIMIT_MAX,
                                     -10**6], dtype=np.int64), k)
        ts_event = np.where(rng.random(k) < 0.5, arrays.ts_event, times).astype(np.int64)
        newest = int(rng.choice([0, 7, 10**6, span]))
        future = int(rng.choice([0, 120_000, -5, -300_000, span, -span, span - 1]))
        lo, hi = np.zeros(n), np.full(n, 1e12)
        limits = python_limits(ts_event, newest, future)
        # when the kernel makes them and judges the arrays
        got = ticker_arrays_admit(arrays.table, ts_event, newest, future, lo, hi, MAX_AMOUNT)
        # then it answers as the judgement against the Python limits
        expected = ticker_arrays_pass(arrays.table, ts_event, limits, lo, hi, MAX_AMOUNT)
        assert (bool(got[0]), int(got[1])) == (bool(expected[0]), int(expected[1])), trial


def test_a_validator_beyond_the_kernels_range_admits_arrays_as_one_by_one() -> None:
    """A `max_future_ms` past 2**62 makes its limits in Python ints (no int64 overflow)."""
    rng = np.random.default_rng(43)
    for trial in range(200):
        arrays = _random_arrays(rng, 3, 2, odd_share=0.0001)
        future = int(rng.choice([2**62 + 1, 2**80, -(2**62) - 1]))
        together, one_by_one = (FrameValidator(max_future_ms=future) for _ in range(2))
        whole = True
        for j, ts in enumerate(arrays.ts_event.tolist()):
            batch = arrays.batch(j)
            whole &= one_by_one.admit_batch(batch, ts) is batch
        assert together.admit_arrays(arrays) == whole, trial
        assert together.newest_ms == one_by_one.newest_ms or not whole


def test_a_feed_following_some_symbols_gets_their_rows_array_by_array() -> None:
    """A TickArrays carries every traded symbol of the minute: a feed that follows only some
    of them gets the followed rows as TickBatches, the same rows it gets without arrays."""
    def ticker_rows(arrays: bool) -> list[tuple[Any, ...]]:
        source = generated(coins=5, seed=3)()
        followed = list(source.symbols[:3])
        seen: list[tuple[Any, ...]] = []
        feed = ReplayFeed(
            source, direct=True, all_tickers=True, forming_klines=False, symbols=followed,
            on_tick=print, on_bar=lambda bar: None,
            on_tick_batch=lambda rows: seen.append(
                (rows.ts_event.tolist(), rows.symbols, rows.last.tolist())),
            on_tick_arrays=(lambda _: seen.append(("arrays",))) if arrays else None)
        for _ in range(6):
            feed.play_minute()
        return seen

    # given a feed that follows three of five symbols, with and without ticker arrays
    with_arrays, without = ticker_rows(True), ticker_rows(False)
    # then no minute comes as arrays, and the followed rows are the same
    assert ("arrays",) not in with_arrays
    assert with_arrays == without and len(without) >= 20
