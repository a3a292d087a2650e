"""The bad-print filter (strategies/bad_prints.py): a print far outside a symbol's recent
range is held until the market confirms it; real markets, even wild ones, pass untouched."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from model.market import MINUTE_MS, Bar, BarHistory, Tick, TickBatch
from strategies.bad_prints import PrintFilter, PrintFilterConfig

T0 = 1_700_000_000_000 - 1_700_000_000_000 % MINUTE_MS


def bar(minute: int, close: float, symbol: str = "BTCUSDT", spread: float = 0.001) -> Bar:
    return Bar(symbol, T0 + minute * MINUTE_MS, close, close * (1 + spread),
               close * (1 - spread), close, 1.0, close)


def tick(price: float, symbol: str = "BTCUSDT") -> Tick:
    return Tick(symbol, T0, T0, price, price * 0.999, price * 1.001, 1.0, 1.0, 1.0, price)


def warm_filter(symbols: tuple[str, ...] = ("BTCUSDT",), price: float = 100.0) -> PrintFilter:
    """A filter that has seen 60 quiet minutes of every symbol (as after a backfill)."""
    flt = PrintFilter(symbols)
    rng = np.random.default_rng(3)
    for symbol in symbols:
        closes = price * (1 + rng.normal(0, 0.001, 60))
        opens = T0 - MINUTE_MS * np.arange(60, 0, -1, dtype=np.int64)
        flt.load_history(BarHistory(symbol, opens, closes, closes * 1.001, closes * 0.999,
                                    closes, np.ones(60), closes))
    return flt


def test_a_bar_at_a_thousand_times_the_price_is_held_then_rejected_when_the_market_says_no() -> None:
    flt = warm_filter()
    assert flt.admit_bar(bar(0, 100_000.0)) == []
    assert flt.held("BTCUSDT") == 1
    assert flt.admit_bar(bar(1, 100.2)) == [bar(1, 100.2)]
    counts = flt.counts()
    assert (counts.quarantined_bars, counts.rejected_bars, counts.released_bars) == (1, 1, 0)
    assert counts.held_now == 0


def test_a_bar_at_a_thousandth_of_the_price_is_held_too() -> None:
    flt = warm_filter()
    assert flt.admit_bar(bar(0, 0.1)) == []


def test_a_bogus_high_alone_is_enough_to_hold_the_bar() -> None:
    flt = warm_filter()
    spiked = Bar("BTCUSDT", T0, 100.0, 1e300, 99.9, 100.0, 1.0, 100.0)
    assert flt.admit_bar(spiked) == []


def test_a_real_level_shift_is_released_in_order_after_three_bars_there() -> None:
    flt = warm_filter()
    shifted = [bar(m, 400.0 + m) for m in range(3)]
    assert flt.admit_bar(shifted[0]) == []
    assert flt.admit_bar(shifted[1]) == []
    assert flt.admit_bar(shifted[2]) == shifted
    assert flt.admit_bar(bar(3, 405.0)) == [bar(3, 405.0)]  # the range moved with the market
    assert flt.counts().confirmations == 1


def test_the_book_at_the_new_level_confirms_a_held_bar() -> None:
    flt = warm_filter()
    assert flt.admit_bar(bar(0, 300.0)) == []
    released: list[Bar] = []
    for _ in range(3):
        apply, bars = flt.admit_tick(tick(301.0))
        assert apply is False  # not applied while unconfirmed
        released += bars
    assert released == [bar(0, 300.0)]


def test_a_tick_far_outside_the_range_is_not_applied() -> None:
    flt = warm_filter()
    assert flt.admit_tick(tick(100.1)) == (True, [])
    assert flt.admit_tick(tick(1e6)) == (False, [])
    assert flt.counts().quarantined_ticks == 1


def test_a_ticker_array_keeps_its_in_range_rows_and_is_returned_as_is_when_all_are() -> None:
    flt = warm_filter(("A", "B"))
    n = 3
    batch = TickBatch(("A", "B", "ZZZ"), np.full(n, T0, dtype=np.int64), T0,
                      last=np.array([100.0, 1e5, 7.0]), bid=np.array([99.9, 99.9, 6.9]),
                      ask=np.array([100.1, 100.1, 7.1]), bid_qty=np.ones(n), ask_qty=np.ones(n),
                      base_volume=np.ones(n), quote_volume=np.ones(n))
    kept, released = flt.admit_batch(batch)
    assert kept is not None and kept.symbols == ("A", "ZZZ") and released == []
    assert flt.admit_batch(kept)[0] is kept


def test_before_a_full_window_nothing_is_held() -> None:
    """A listing's first half hour swings 10x for real (Bittrex MER, 2017-11-14)."""
    flt = PrintFilter(["NEW"])
    assert flt.admit_bar(bar(0, 1.0, "NEW")) == [bar(0, 1.0, "NEW")]
    assert flt.admit_bar(bar(1, 10.0, "NEW")) == [bar(1, 10.0, "NEW")]


def test_a_volatile_but_real_market_is_never_held() -> None:
    """Minute returns of 5% standard deviation, fat tails: nothing looks like a bad print."""
    flt = warm_filter()
    rng = np.random.default_rng(7)
    price = 100.0
    for minute in range(2_000):
        price *= float(np.exp(0.05 * rng.standard_t(3)))
        price = min(max(price, 1.0), 1e6)
        flt.admit_bar(bar(minute, price, spread=0.02))
    assert flt.counts().quarantined_bars < 20  # held ones are confirmed, none rejected
    assert flt.counts().rejected_bars == 0


def test_a_symbol_outside_the_universe_passes() -> None:
    flt = warm_filter()
    assert flt.admit_bar(bar(0, 1e6, "OTHER")) == [bar(0, 1e6, "OTHER")]


@pytest.mark.shared_data
@pytest.mark.parametrize("month", ["2017-11", "2017-12"])
def test_real_bittrex_minutes_are_never_quarantined(shared_data: Path, month: str) -> None:
    """Every 1m bar of the month (listings, pumps and crashes included) goes straight
    through with the default thresholds."""
    files = sorted((shared_data / "ohlcv" / f"freqtrade_bittrex_{month}").glob("*-1m.csv.gz"))
    assert files, "the shared Bittrex data should be there"
    symbols = [f.name.split("-")[0] for f in files]
    flt = PrintFilter(symbols, PrintFilterConfig())
    seen = 0
    for symbol, path in zip(symbols, files):
        with gzip.open(path) as handle:
            rows = np.loadtxt(handle, delimiter=",", skiprows=1)
        for ts, o, h, low, c, v in rows.tolist():
            flt.admit_bar(Bar(symbol, int(ts), o, h, low, c, v, float("nan")))
        seen += len(rows)
    assert seen > 100_000
    assert flt.counts().quarantined_bars == 0
