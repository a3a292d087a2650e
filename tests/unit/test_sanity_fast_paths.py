"""The feed edge's fast paths against the forms they stand in for, on random data full of
the values the edge exists for (zero, negative, NaN, inf, 1e300, crossed quotes, future
times): the compiled ticker-array check (exchange/feeds/sanity_kernel.py) says "all pass"
exactly when every row of the array form (`sanity._valid_rows`) does, with the same newest
time; `bar_problem`'s one-expression path gives the reason the checks one by one give."""

from __future__ import annotations

import numpy as np
import pytest

from exchange.feeds.sanity import FrameValidator, _valid_rows
from exchange.feeds.sanity_kernel import TS_LIMIT_MAX, ticker_rows_pass
from exchange.feeds.sanity_rules import MAX_AMOUNT, MAX_PRICE, PriceBounds
from model.market import MINUTE_MS, Bar, TickBatch

NOW_MS = 1_700_000_100_000
ODD = np.array([0.0, -1.0, np.nan, np.inf, -np.inf, 1e300, 2e12, 2e18, 1e-9])


def random_batch(rng: np.random.Generator, n: int, odd_share: float) -> TickBatch:
    """A ticker array of mostly sane rows, `odd_share` of its cells replaced by odd values."""
    def column(scale: float) -> np.ndarray:
        values = scale * (1.0 + rng.random(n))
        odd = rng.random(n) < odd_share
        values[odd] = rng.choice(ODD, odd.sum())
        return values

    bid = column(100.0)
    ask = bid + np.where(rng.random(n) < odd_share, -1.0, 1.0)
    ts = NOW_MS + rng.integers(-60_000, 200_000, n) * (rng.random(n) < odd_share)
    return TickBatch(tuple(f"S{i}" for i in range(n)), ts.astype(np.int64), NOW_MS,
                     column(100.0), bid, ask, column(1.0), column(1.0), column(1e6),
                     column(1e8))


def kernel(batch: TickBatch, lo: np.ndarray, hi: np.ndarray, limit: int) -> tuple[bool, int]:
    return ticker_rows_pass(batch.bid, batch.ask, batch.last, batch.bid_qty, batch.ask_qty,
                            batch.base_volume, batch.quote_volume, batch.ts_event, lo, hi,
                            min(limit, TS_LIMIT_MAX), MAX_AMOUNT)


@pytest.mark.parametrize("odd_share", [0.0, 0.01, 0.05, 0.3])
def test_the_kernel_passes_an_array_exactly_when_every_row_of_the_array_form_does(
        odd_share: float) -> None:
    rng = np.random.default_rng(int(odd_share * 100))
    for trial in range(300):
        n = int(rng.integers(1, 40))
        batch = random_batch(rng, n, odd_share)
        lo = np.where(rng.random(n) < 0.2, 150.0, 0.0)
        hi = np.where(rng.random(n) < 0.2, 180.0, MAX_PRICE)
        limit = NOW_MS + 120_000
        good = _valid_rows(batch, batch.ts_event, lo, hi, limit)
        passed, newest = kernel(batch, lo, hi, limit)
        assert passed == bool(good.all()), trial
        if passed:
            assert newest == int(batch.ts_event.max())


def test_a_limit_beyond_int64_admits_every_time_as_the_array_form_does() -> None:
    batch = random_batch(np.random.default_rng(1), 5, 0.0)
    lo, hi = np.zeros(5), np.full(5, MAX_PRICE)
    assert kernel(batch, lo, hi, 2**70)[0]
    assert _valid_rows(batch, batch.ts_event, lo, hi, 2**70).all()


def test_admit_batch_keeps_the_rows_the_array_form_keeps_with_and_without_bounds() -> None:
    rng = np.random.default_rng(7)
    bounds = {f"S{i}": PriceBounds(min_price=150.0, max_price=190.0) for i in range(0, 40, 3)}
    for trial in range(200):
        n = int(rng.integers(1, 40))
        batch = random_batch(rng, n, 0.05)
        validator = FrameValidator(bounds if trial % 2 else None)
        lo, hi = validator.bound_columns(batch.symbols)
        good = _valid_rows(batch, batch.ts_event, lo, hi, NOW_MS + validator.max_future_ms)
        kept = validator.admit_batch(batch, NOW_MS)
        if good.all():
            assert kept is batch
        elif not good.any():
            assert kept is None
        else:
            assert kept is not None
            assert kept.symbols == tuple(np.array(batch.symbols)[good])
        assert validator.total == int((~good).sum())


def test_bound_columns_follow_a_new_bounds_mapping() -> None:
    validator = FrameValidator({"A": PriceBounds(min_price=1.0, max_price=2.0)})
    lo, hi = validator.bound_columns(("A", "B"))
    assert lo.tolist() == [1.0, 0.0] and hi.tolist() == [2.0, MAX_PRICE]
    validator.bounds = {"B": PriceBounds(min_price=3.0)}
    lo, hi = validator.bound_columns(("A", "B"))
    assert lo.tolist() == [0.0, 3.0] and hi.tolist() == [MAX_PRICE, MAX_PRICE]


def test_bar_problem_names_the_reason_the_checks_one_by_one_name() -> None:
    rng = np.random.default_rng(3)
    bounds = {"A": PriceBounds(min_price=60.0), "B": PriceBounds(max_price=150.0),
              "C": PriceBounds(min_price=60.0, max_price=150.0)}
    validator = FrameValidator(bounds, max_age_ms=60 * MINUTE_MS)
    validator.observe_time(NOW_MS)
    seen: set[str | None] = set()
    for trial in range(5000):
        o, h, low, c, volume, quote = 100.0 * (0.5 + rng.random(6))
        h, low = max(o, c, h), min(o, c, low)
        values = [o, h, low, c, volume, quote]
        for k in np.flatnonzero(rng.random(6) < 0.1):
            values[k] = float(rng.choice(ODD))
        open_ms = NOW_MS - MINUTE_MS * int(rng.choice([1, 2, 90, -5]))
        bar = Bar(str(rng.choice(["A", "B", "C", "D"])), open_ms, *values)
        expected = validator._bar_problem_one_by_one(bar, bounds.get(bar.symbol), NOW_MS)
        assert validator.bar_problem(bar, NOW_MS) == expected, (trial, bar)
        seen.add(expected)
    assert len(seen) >= 6  # every kind of reason met, and valid bars
