"""`MarketState.ticker_tables` and `partial_table`, compiled (exchange/sim/ticker_kernel.py),
against the array forms they replaced (kept here as oracles): the same numbers, bit for bit,
on random minutes of a market where only some symbols traded, with lots and volumes of every
scale and the bar done to any share."""

from __future__ import annotations

import numpy as np

import exchange.sim.protocol as protocol
from exchange.sim.ticker_kernel import (
    close_stores,
    parsed_partial_bar_table,
    parsed_ticker_table,
    partial_bar_table,
    ticker_table,
)
from exchange.sim.ticks import floor_to_grid


def ticker_table_oracle(ticks: dict[str, np.ndarray], bar_volume: np.ndarray,
                        bar_quote: np.ndarray, window_volume: np.ndarray,
                        window_quote: np.ndarray, lot: np.ndarray,
                        index: np.ndarray) -> np.ndarray:
    done = ticks["done"]
    volume = window_volume[index] + floor_to_grid(bar_volume * done, lot[index])
    quote = window_quote[index] + bar_quote * done
    return np.stack((ticks["last"], ticks["bid"], ticks["ask"], ticks["bid_qty"],
                     ticks["ask_qty"], volume, quote), axis=1)


def test_the_kernel_gives_the_array_forms_table() -> None:
    rng = np.random.default_rng(12)
    for trial in range(300):
        market, k = int(rng.integers(1, 40)), int(rng.choice([1, 2, 4, 10]))
        index = np.flatnonzero(rng.random(market) < 0.7)
        n = len(index)
        ticks = {name: 10.0 ** rng.uniform(-8, 6, (k, n))
                 for name in ("last", "bid", "ask", "bid_qty", "ask_qty")}
        ticks["done"] = np.repeat(((np.arange(k) + 1) / k)[:, None], n, axis=1)
        bar_volume, bar_quote = 10.0 ** rng.uniform(-4, 9, (2, n))
        lot = 10.0 ** rng.integers(-8, 2, market).astype(np.float64)
        bar_volume = np.round(bar_volume / lot[index]) * lot[index]
        window_volume, window_quote = 10.0 ** rng.uniform(-2, 12, (2, market))
        got = ticker_table(ticks["last"], ticks["bid"], ticks["ask"], ticks["bid_qty"],
                           ticks["ask_qty"], ticks["done"], bar_volume, bar_quote,
                           window_volume, window_quote, lot, index)
        expected = ticker_table_oracle(ticks, bar_volume, bar_quote, window_volume,
                                       window_quote, lot, index)
        assert got.shape == expected.shape
        assert got.view(np.int64).tolist() == expected.view(np.int64).tolist(), trial


def partial_columns_oracle(open_: np.ndarray, run_high: np.ndarray, run_low: np.ndarray,
                           last: np.ndarray, bar_volume: np.ndarray, bar_quote: np.ndarray,
                           bar_trades: np.ndarray, done: np.ndarray, lot: np.ndarray,
                           index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`MarketState.partial_columns`, the array form `partial_table` replaced."""
    volume = floor_to_grid(bar_volume * done, lot[index])
    trades = np.maximum(1, np.rint(bar_trades * done).astype(np.int64))
    return np.stack((open_, run_high, run_low, last[index], volume, bar_quote * done)), trades


def test_the_partial_bar_kernel_gives_the_array_forms_bars() -> None:
    rng = np.random.default_rng(21)
    for trial in range(300):
        market = int(rng.integers(1, 40))
        index = np.flatnonzero(rng.random(market) < 0.7)
        n = len(index)
        lot = 10.0 ** rng.integers(-8, 2, market).astype(np.float64)
        open_, high, low, quote = 10.0 ** rng.uniform(-6, 6, (4, n))
        volume = np.round(10.0 ** rng.uniform(-4, 9, n) / lot[index]) * lot[index]
        last = 10.0 ** rng.uniform(-6, 6, market)
        trades = rng.integers(1, 10**6, n)
        done = rng.choice([0.25, 0.5, 0.75, 1.0, 1 / 3], n)
        args = (open_, high, low, last, volume, quote, trades, done, lot, index)
        table, counts = partial_bar_table(*args)
        expected_table, expected_counts = partial_columns_oracle(*args)
        assert table.view(np.int64).tolist() == expected_table.view(np.int64).tolist(), trial
        assert counts.dtype == expected_counts.dtype
        assert counts.tolist() == expected_counts.tolist(), trial


def _odd_values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Numbers of every scale, with halves of the 8th decimal (doubtful to the parse),
    NaN, -0.0 and values past 2**26 sprinkled in."""
    values = 10.0 ** rng.uniform(-9, 9, shape)
    pick = rng.random(shape)
    values = np.where(pick < 0.1, np.round(values, 8) + 5e-9, values)
    values = np.where((pick > 0.1) & (pick < 0.12), np.nan, values)
    values = np.where((pick > 0.12) & (pick < 0.14), -0.0, values)
    return np.where((pick > 0.14) & (pick < 0.16), 2.0**26 + values, values)


def test_the_parsed_tables_are_num_parsed_of_the_tables() -> None:
    """`parsed_ticker_table` / `parsed_partial_bar_table`, finished by
    `protocol.parsed_tables`, equal `num_parsed` of `ticker_table` / `partial_bar_table`."""
    rng = np.random.default_rng(23)
    doubtful_seen = 0
    for trial in range(200):
        market, k = int(rng.integers(1, 30)), int(rng.choice([1, 2, 4]))
        index = np.flatnonzero(rng.random(market) < 0.8)
        n = len(index)
        ticks = [_odd_values(rng, (k, n)) for _ in range(5)]
        done = np.repeat(((np.arange(k) + 1) / k)[:, None], n, axis=1)
        bar_volume, bar_quote = _odd_values(rng, (2, n))
        lot = 10.0 ** rng.integers(-8, 2, market).astype(np.float64)
        window_volume, window_quote = _odd_values(rng, (2, market))
        args = (*ticks, done, bar_volume, bar_quote, window_volume, window_quote, lot, index)
        expected = protocol.num_parsed(ticker_table(*args))
        table, doubtful, any_doubtful = parsed_ticker_table(*args, protocol.NUM_EXACT_FROM,
                                                            protocol.NUM_DOUBT)
        doubtful_seen += int(doubtful.sum())
        got = protocol.parsed_tables(table, doubtful, any_doubtful)
        assert got.tobytes() == expected.tobytes(), trial

        open_, run_high, run_low = _odd_values(rng, (3, n))
        last = _odd_values(rng, (market,))
        trades = rng.integers(1, 500, n).astype(np.int64)
        share = rng.uniform(0.0, 1.0, n)
        bar_args = (open_, run_high, run_low, last, bar_volume, bar_quote, trades, share,
                    lot, index)
        floats, counts = partial_bar_table(*bar_args)
        parsed, parsed_counts, doubtful, any_doubtful = parsed_partial_bar_table(
            *bar_args, protocol.NUM_EXACT_FROM, protocol.NUM_DOUBT)
        got = protocol.parsed_tables(parsed, doubtful, any_doubtful)
        assert got.tobytes() == protocol.num_parsed(floats).tobytes(), trial
        assert parsed_counts.tobytes() == counts.tobytes()
    assert doubtful_seen > 100  # the formatted-for-real branch ran


def noisy(rng: np.random.Generator, shape: tuple[int, ...] | int) -> np.ndarray:
    """Prices with a few NaN, infinities and signed zeros among them."""
    values = 100.0 * (0.5 + rng.random(shape))
    odd = rng.random(shape) < 0.05
    values[odd] = rng.choice(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0]), odd.sum())
    return values


def close_stores_oracle(index: np.ndarray, ticks: dict[str, np.ndarray],
                        bars: dict[str, np.ndarray], state: dict[str, np.ndarray]
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`MarketState.close_after_last_tick`'s stores as numpy made them (its array form)."""
    if len(ticks["ts_event"]):
        j = len(ticks["ts_event"]) - 1
        state["ts_ms"][index] = ticks["ts_event"][j]
        for name in ("last_qty", "bid", "ask", "bid_qty", "ask_qty"):
            state[name][index] = ticks[name][j]
    state["last"][index] = bars["close"]
    return bars["high"].copy(), bars["low"].copy(), np.ones(len(index))


def test_the_close_stores_are_the_array_forms_stores() -> None:
    # given market states of up to 30 symbols, minutes where some or all traded, with and
    # without ticks, odd floats among the values, and bar columns that are strided views
    rng = np.random.default_rng(23)
    names = ("last_qty", "bid", "ask", "bid_qty", "ask_qty")
    for trial in range(300):
        n_all = int(rng.integers(1, 30))
        index = np.flatnonzero(rng.random(n_all) < 0.7).astype(np.int64)
        n, k = len(index), int(rng.choice([0, 1, 4]))
        ticks = {name: noisy(rng, (k, n)) for name in names}
        ticks["ts_event"] = rng.integers(0, 10**12, k).astype(np.int64)
        table = noisy(rng, (6, n))
        bars = {"close": table[3], "high": table[1], "low": table[2]}
        start = {name: noisy(rng, n_all) for name in (*names, "last")}
        start["ts_ms"] = rng.integers(0, 10**12, n_all).astype(np.int64)
        expected_state = {name: a.copy() for name, a in start.items()}
        expected = close_stores_oracle(index, ticks, bars, expected_state)
        # when the kernel makes them
        got_state = {name: a.copy() for name, a in start.items()}
        got = close_stores(index, ticks["ts_event"], *(ticks[name] for name in names),
                           bars["close"], bars["high"], bars["low"], got_state["ts_ms"],
                           *(got_state[name] for name in names), got_state["last"])
        # then the state and the close's running high, low and volume done are the same bits
        for name in start:
            assert got_state[name].tobytes() == expected_state[name].tobytes(), (trial, name)
        for a, b in zip(got, expected, strict=True):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), trial
