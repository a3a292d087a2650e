"""The replay feed's usual minute in compiled calls (exchange/feeds/usual_minute_kernel.py)
against the kernels it chains (kept as its definition): the same tables and state stores,
bit for bit, and the usual minute exactly when every one of them would pass it; on random
minutes with NaN, inf, negative, huge, out-of-bounds and rounding-half values, event times
past the parser's and the edge's limits."""

from __future__ import annotations

from typing import Any

import numpy as np

import exchange.sim.protocol as protocol
from exchange.feeds.binance_parse import MAX_TS_MS
from exchange.feeds.parse_kernel import kline_rows_pass, ticker_rows_pass
from exchange.feeds.sanity import MAX_AMOUNT, MAX_PRICE
from exchange.feeds.sanity_kernel import bar_rows_pass, ticker_arrays_admit
from exchange.feeds.usual_minute_kernel import (
    DOUBTFUL,
    NOT_ADMITTED,
    REFUSED,
    USUAL,
    close_minute,
    ticker_minute,
    usual_minute,
)
from exchange.sim.ticker_kernel import close_stores, parsed_partial_bar_table, parsed_ticker_table

EXACT, DOUBT = protocol.NUM_EXACT_FROM, protocol.NUM_DOUBT


def bits(a: np.ndarray) -> list[int]:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64).ravel().tolist()


def spoil(rng: np.random.Generator, values: np.ndarray, rate: float) -> None:
    """Make a few values odd in place: NaN, inf, negative, huge, or on a rounding half."""
    for at in np.flatnonzero(rng.random(values.size) < rate).tolist():
        values.flat[at] = rng.choice([np.nan, np.inf, -1.0, 3e18, 2e12, 0.0,
                                      round(float(values.flat[at]), 8) + 5e-9])


def random_minute(rng: np.random.Generator, rate: float) -> dict[str, Any]:
    market = int(rng.integers(1, 12))
    index = np.flatnonzero(rng.random(market) < 0.8).astype(np.int64)
    if not len(index):
        index = np.array([0], dtype=np.int64)
    n, k = len(index), int(rng.choice([1, 2, 4]))
    lot = 10.0 ** rng.integers(-6, 1, market).astype(np.float64)
    price = 10.0 ** rng.uniform(-3, 4, n)
    last = np.round(price * rng.uniform(0.99, 1.01, (k, n)), 6)
    bid = np.round(last * 0.999, 6)
    ask = np.round(last * 1.001, 6)
    ticks: dict[str, np.ndarray] = {
        "last": last, "bid": bid, "ask": ask,
        "bid_qty": np.round(rng.uniform(0.1, 100, (k, n)), 4),
        "ask_qty": np.round(rng.uniform(0.1, 100, (k, n)), 4),
        "last_qty": np.round(rng.uniform(0.1, 10, (k, n)), 4)}
    for name in ("last", "bid", "ask", "bid_qty", "ask_qty"):
        spoil(rng, ticks[name], rate)
    ticks["done"] = np.repeat(((np.arange(k) + 1) / k)[:, None], n, axis=1)
    start = int(rng.choice([0, 1_700_000_000_000, MAX_TS_MS - 30_000, -60_000]))
    ticks["ts_event"] = start + np.sort(rng.integers(0, 60_000, k)).astype(np.int64)
    bars = {"open": last[0].copy(), "high": np.round(price * 1.02, 6),
            "low": np.round(price * 0.98, 6), "close": last[-1].copy(),
            "volume": np.round(rng.uniform(0, 1e4, n) / lot[index]) * lot[index],
            "quote": np.round(rng.uniform(0, 1e6, n), 2),
            "trades": rng.integers(1, 10**5, n).astype(np.int64)}
    for name in ("open", "high", "low", "close", "volume", "quote"):
        spoil(rng, bars[name], rate / 2)
    window = np.round(10.0 ** rng.uniform(0, 8, (2, market)), 4)
    spoil(rng, window, rate / 4)
    lo = np.where(rng.random(n) < 0.1, price, 0.0)
    hi = np.where(rng.random(n) < 0.1, price, 1e12)
    state: dict[str, np.ndarray] = {name: rng.uniform(0, 10, market) for name in
                                    ("last_qty", "bid", "ask", "bid_qty", "ask_qty", "last")}
    state["ts"] = rng.integers(0, 10**12, market).astype(np.int64)
    return {"index": index, "lot": lot, "ticks": ticks, "bars": bars, "window": window,
            "lo": lo, "hi": hi, "state": state,
            "newest": int(rng.choice([0, 1_700_000_030_000, 2**62])),
            "future": int(rng.choice([0, 120_000, -60_000, 2**62]))}


def ticker_oracle(m: dict[str, Any]) -> tuple[int, int, np.ndarray]:
    """The kernels the feed called one after the other, and what it made of their answers."""
    t, b, (wv, wq) = m["ticks"], m["bars"], m["window"]
    table, _, doubtful = parsed_ticker_table(t["last"], t["bid"], t["ask"], t["bid_qty"],
                                             t["ask_qty"], t["done"], b["volume"], b["quote"],
                                             wv, wq, m["lot"], m["index"], EXACT, DOUBT)
    if doubtful:
        return DOUBTFUL, 0, table
    if not ticker_rows_pass(t["ts_event"][:, None], table, MAX_TS_MS).all():
        return REFUSED, 0, table
    passed, latest = ticker_arrays_admit(table, t["ts_event"], m["newest"], m["future"],
                                         m["lo"], m["hi"], MAX_AMOUNT)
    return (USUAL, int(latest), table) if passed else (NOT_ADMITTED, 0, table)


def ticker_kernel(m: dict[str, Any]) -> tuple[int, int, np.ndarray]:
    t, b, (wv, wq) = m["ticks"], m["bars"], m["window"]
    table = np.empty((len(t["ts_event"]), 7, len(m["index"])))
    status, latest = ticker_minute(table, t["last"], t["bid"], t["ask"], t["bid_qty"],
                                   t["ask_qty"], t["done"], b["volume"], b["quote"], wv, wq,
                                   m["lot"], m["index"], t["ts_event"], EXACT, DOUBT, MAX_TS_MS,
                                   m["newest"], m["future"], m["lo"], m["hi"], MAX_AMOUNT)
    return int(status), int(latest), table


def test_the_ticker_call_is_the_chain_of_kernels_it_replaces() -> None:
    rng = np.random.default_rng(31)
    seen = set()
    for trial in range(3000):
        m = random_minute(rng, float(rng.choice([0.0, 0.003, 0.03])))
        if m["newest"] > 2**62 or abs(m["future"]) > 2**62:
            continue
        want, got = ticker_oracle(m), ticker_kernel(m)
        seen.add(want[0])
        assert got[0] == want[0], trial
        if want[0] != DOUBTFUL:  # a doubtful table is not used: it goes the general way
            assert bits(got[2]) == bits(want[2]), trial
        if want[0] == USUAL:
            assert got[1] == want[1], trial
    assert seen == {USUAL, DOUBTFUL, REFUSED, NOT_ADMITTED}


def close_oracle(m: dict[str, Any]) -> tuple[int, dict[str, np.ndarray], tuple[np.ndarray, ...], np.ndarray,
                                         np.ndarray]:
    t, b, s = m["ticks"], m["bars"], {k: v.copy() for k, v in m["state"].items()}
    run = close_stores(m["index"], t["ts_event"], t["last_qty"], t["bid"], t["ask"],
                       t["bid_qty"], t["ask_qty"], b["close"], b["high"], b["low"], s["ts"],
                       s["last_qty"], s["bid"], s["ask"], s["bid_qty"], s["ask_qty"], s["last"])
    values, trades, _, doubtful = parsed_partial_bar_table(
        b["open"], run[0], run[1], s["last"], b["volume"], b["quote"], b["trades"], run[2],
        m["lot"], m["index"], EXACT, DOUBT)
    if doubtful:
        status = DOUBTFUL
    elif not kline_rows_pass(values[:4], values[4:], MAX_PRICE).all():
        status = REFUSED
    elif not bar_rows_pass(values[0], values[1], values[2], values[3], values[4], values[5],
                           m["lo"], m["hi"], MAX_AMOUNT):
        status = NOT_ADMITTED
    else:
        status = USUAL
    return status, s, run, values, trades


def close_kernel(m: dict[str, Any]) -> tuple[int, dict[str, np.ndarray], tuple[np.ndarray, ...], np.ndarray,
                                         np.ndarray]:
    t, b, s = m["ticks"], m["bars"], {k: v.copy() for k, v in m["state"].items()}
    n = len(m["index"])
    values, trades = np.empty((6, n)), np.empty(n, dtype=np.int64)
    run = (np.empty(n), np.empty(n), np.empty(n))
    status = close_minute(values, trades, *run, m["index"], t["ts_event"], t["last_qty"],
                          t["bid"], t["ask"], t["bid_qty"], t["ask_qty"], b["open"], b["high"],
                          b["low"], b["close"], b["volume"], b["quote"], b["trades"], m["lot"],
                          s["ts"], s["last_qty"], s["bid"], s["ask"], s["bid_qty"],
                          s["ask_qty"], s["last"], EXACT, DOUBT, MAX_PRICE, m["lo"], m["hi"],
                          MAX_AMOUNT)
    return int(status), s, run, values, trades


def test_the_close_call_is_the_chain_of_kernels_it_replaces() -> None:
    rng = np.random.default_rng(32)
    seen = set()
    for trial in range(3000):
        m = random_minute(rng, float(rng.choice([0.0, 0.01, 0.1])))
        want, got = close_oracle(m), close_kernel(m)
        seen.add(want[0])
        assert got[0] == want[0], trial
        for name in want[1]:  # the close's stores happen whatever the klines are
            assert want[1][name].tolist() == got[1][name].tolist() or (
                bits(want[1][name]) == bits(got[1][name])), (trial, name)
        for a, b in zip(want[2], got[2], strict=True):
            assert bits(a) == bits(b), trial
        if want[0] != DOUBTFUL:
            assert bits(got[3]) == bits(want[3]), trial
            assert got[4].dtype == want[4].dtype and got[4].tolist() == want[4].tolist()
    assert seen == {USUAL, DOUBTFUL, REFUSED, NOT_ADMITTED}


def test_the_minutes_call_closes_only_a_minute_whose_tickers_are_the_usual_ones() -> None:
    rng = np.random.default_rng(33)
    seen = set()
    for trial in range(2000):
        m = random_minute(rng, float(rng.choice([0.0, 0.003, 0.03])))
        if m["newest"] > 2**62 or abs(m["future"]) > 2**62:
            continue
        tickers = ticker_kernel(m)
        t, b, s = m["ticks"], m["bars"], {k: v.copy() for k, v in m["state"].items()}
        n = len(m["index"])
        table = np.empty((len(t["ts_event"]), 7, n))
        closing, trades = np.empty((9, n)), np.empty(n, dtype=np.int64)
        status, latest, klines = usual_minute(
            table, closing, trades, t["last"], t["bid"], t["ask"], t["bid_qty"], t["ask_qty"],
            t["last_qty"], t["done"], t["ts_event"], b["open"], b["high"], b["low"],
            b["close"], b["volume"], b["quote"], b["trades"], m["index"], m["window"][0],
            m["window"][1], m["lot"], s["ts"], s["last_qty"], s["bid"], s["ask"],
            s["bid_qty"], s["ask_qty"], s["last"], EXACT, DOUBT, MAX_TS_MS, MAX_PRICE,
            m["newest"], m["future"], m["lo"], m["hi"], MAX_AMOUNT)
        assert status == tickers[0], trial
        if status != DOUBTFUL:
            assert bits(table) == bits(tickers[2]), trial
        if status != USUAL:  # nothing closed, nothing stored
            assert klines == USUAL
            assert all(bits(s[k]) == bits(m["state"][k]) for k in s), trial
            continue
        seen.add(klines)
        assert latest == tickers[1]
        want = close_kernel(m)
        assert klines == want[0], trial
        assert all(bits(s[k]) == bits(want[1][k]) for k in s), trial
        assert [bits(row) for row in closing[6:]] == [bits(a) for a in want[2]], trial
        if klines != DOUBTFUL:
            assert bits(closing[:6]) == bits(want[3]) and trades.tolist() == want[4].tolist()
    assert seen >= {USUAL, REFUSED}
