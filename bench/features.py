"""Feature pipeline throughput and decision-step latency for 500 symbols.

Measured, each beside a naive pandas version timed in the same run:
- tickers/s through parse -> normalize -> feature update, with single-ticker frames
  (`parse_frame` + `FeatureBook.on_tick`) and with `!ticker@arr` frames
  (`parse_ticker_array` + `FeatureBook.on_tick_batch`); frames are real Binance JSON text
  (24hrTicker payloads with string numbers, as the exchange sends them);
- decision-step latency (`advance_to` + `matrix()` + `rank()`) with a full month of 1m
  history behind every symbol.
Targets: >= 200k tickers/s with array frames, decision step p99 <= 5 ms.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable

import numpy as np
import orjson
import pandas as pd

from bench.common import console, percentiles_ms, rate, show, time_each
from bot.config import StrategyConfig
from exchange.feeds.binance_parse import parse_frame, parse_ticker_array
from model.market import MINUTE_MS, BarHistory, Tick
from strategies.features import FeatureBook
from strategies.ranking import rank
from strategies.windows import AVERAGE_WINDOWS, RANGE_WINDOWS, RETURN_WINDOWS

N_SYMBOLS = 500
HISTORY_MINUTES = 43_200
START_MS = 1_700_000_000_000 // MINUTE_MS * MINUTE_MS
SYMBOLS = tuple(f"C{i:03d}USDT" for i in range(N_SYMBOLS))
TARGET_TICKERS_PER_S = 200_000
TARGET_P99_MS = 5.0


def _history(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A month of 1m bars for every symbol: random walks with fat-tailed volume."""
    shape = (HISTORY_MINUTES, N_SYMBOLS)
    sigma = rng.uniform(5e-4, 3e-3, N_SYMBOLS)
    log_price = np.log(rng.uniform(0.01, 500, N_SYMBOLS)) + np.cumsum(
        rng.standard_normal(shape) * sigma, axis=0)
    close = np.exp(log_price)
    wiggle = np.abs(rng.standard_normal(shape)) * sigma
    quote_volume = rng.lognormal(8, 1.5, shape) * (rng.random(shape) > 0.05)
    return {"close": close, "high": close * np.exp(wiggle), "low": close * np.exp(-wiggle),
            "quote_volume": quote_volume}


def _payload(symbol: str, event_ms: int, price: float, rng: np.random.Generator) -> dict:
    """A 24hrTicker payload exactly as Binance sends it (numbers as decimal strings)."""
    half_spread = price * rng.uniform(1e-5, 1e-3)
    bid, ask = price - half_spread, price + half_spread
    volume = rng.uniform(1e3, 1e6)
    return {
        "e": "24hrTicker", "E": event_ms, "s": symbol, "p": f"{price * 0.01:.8f}",
        "P": "1.000", "w": f"{price:.8f}", "x": f"{price * 0.99:.8f}", "c": f"{price:.8f}",
        "Q": f"{rng.uniform(0.1, 10):.8f}", "b": f"{bid:.8f}", "B": f"{rng.uniform(1, 100):.8f}",
        "a": f"{ask:.8f}", "A": f"{rng.uniform(1, 100):.8f}", "o": f"{price * 0.99:.8f}",
        "h": f"{price * 1.02:.8f}", "l": f"{price * 0.98:.8f}", "v": f"{volume:.8f}",
        "q": f"{volume * price:.8f}", "O": event_ms - 86_400_000, "C": event_ms,
        "F": 1, "L": 1000, "n": 1000,
    }


def _frames(rng: np.random.Generator, prices: np.ndarray, event_ms: int
            ) -> tuple[list[bytes], list[bytes]]:
    """Single-ticker combined-stream frames and `!ticker@arr` frames (bare arrays)."""
    single: list[bytes] = []
    arrays: list[bytes] = []
    for k in range(10):
        payloads = [_payload(s, event_ms + k, float(p), rng) for s, p in zip(SYMBOLS, prices)]
        arrays.append(orjson.dumps(payloads))
        single.extend(orjson.dumps({"stream": f"{p['s'].lower()}@ticker", "data": p})
                      for p in payloads)
    return single, arrays


def _naive_tick_path(frames: list[bytes]) -> float:
    """Naive: stdlib json, append the ticker to a per-symbol pandas frame, recompute rolling
    means of the last price and the quote features from the frame."""
    books: dict[str, pd.DataFrame] = {}
    started = time.perf_counter()
    for raw in frames:
        data = json.loads(raw)["data"]
        row = [float(data[k]) for k in ("c", "b", "a", "B", "A", "q")]
        frame = books.setdefault(data["s"], pd.DataFrame(
            columns=["last", "bid", "ask", "bid_qty", "ask_qty", "qv"], dtype=float))
        frame.loc[len(frame)] = row
        _ = [frame["last"].rolling(w, min_periods=1).mean().iloc[-1] for w in (1, 3, 5, 10)]
        last = frame.iloc[-1]
        _ = (last["ask"] - last["bid"]) / (last["ask"] + last["bid"]) * 2e4
        _ = (last["bid_qty"] - last["ask_qty"]) / (last["bid_qty"] + last["ask_qty"])
    return time.perf_counter() - started


def _naive_array_path(frames: list[bytes], state: pd.DataFrame) -> float:
    """Naive: stdlib json -> DataFrame -> float columns -> update a per-symbol state frame,
    recompute spread and imbalance columns with pandas."""
    started = time.perf_counter()
    for raw in frames:
        rows = pd.DataFrame(json.loads(raw)).set_index("s")
        update = rows[["c", "b", "a", "B", "A", "q"]].astype(float)
        update.columns = ["last", "bid", "ask", "bid_qty", "ask_qty", "qv"]
        state.update(update)
        state["spread_bps"] = (state["ask"] - state["bid"]) / (state["ask"] + state["bid"]) * 2e4
        state["imbalance"] = (state["bid_qty"] - state["ask_qty"]) / (
            state["bid_qty"] + state["ask_qty"])
    return time.perf_counter() - started


def _naive_features(frames: dict[str, pd.DataFrame], last: pd.Series) -> pd.DataFrame:
    """Naive decision step: pandas rolling over the whole month for every window."""
    close, qv, high, low, ret = (frames[k] for k in ("close", "qv", "high", "low", "ret"))
    out = {}
    for w in AVERAGE_WINDOWS:
        out[f"px_ma_{w}"] = np.log(last / close.rolling(w, min_periods=1).mean().iloc[-1])
        out[f"qv_ma_{w}"] = qv.rolling(w, min_periods=1).mean().iloc[-1]
    for w in RETURN_WINDOWS:
        out[f"ret_{w}"] = ret.rolling(w, min_periods=1).sum().iloc[-1]
    for w in (60, 1440):
        out[f"sigma_{w}"] = ret.rolling(w, min_periods=2).std(ddof=0).iloc[-1]
    for w in RANGE_WINDOWS:
        hi = high.rolling(w, min_periods=1).max().iloc[-1]
        lo = low.rolling(w, min_periods=1).min().iloc[-1]
        out[f"range_{w}"] = (last - lo) / (hi - lo)
    return pd.DataFrame(out)


def _single_path(book: FeatureBook, frames: list[bytes], ts_recv: int) -> float:
    """parse_frame + on_tick over every frame; tickers per second."""
    started = time.perf_counter()
    count = 0
    for raw in frames:
        for event in parse_frame(raw, ts_recv):
            if isinstance(event, Tick):
                book.on_tick(event)
                count += 1
    return rate(count, time.perf_counter() - started)


def _array_path(book: FeatureBook, frames: list[bytes], ts_recv: int, repeats: int) -> float:
    """parse_ticker_array + on_tick_batch over every frame, `repeats` times; tickers/s."""
    started = time.perf_counter()
    count = 0
    for _ in range(repeats):
        for raw in frames:
            batch = parse_ticker_array(raw, ts_recv)
            book.on_tick_batch(batch)
            count += len(batch)
    return rate(count, time.perf_counter() - started)


def _rounds(rounds: int, measure: Callable[[], float]) -> tuple[float, float]:
    """(best, median) of a few rounds: other processes only ever slow a round down, so the
    best is the machine's figure and the median says how noisy the run was."""
    results = [measure() for _ in range(rounds)]
    return max(results), float(np.median(results))


def run() -> dict:
    """Measure and print; return the figures."""
    rng = np.random.default_rng(20240601)
    config = StrategyConfig(top_k=10)
    started = time.perf_counter()
    history = _history(rng)
    book = FeatureBook(SYMBOLS)
    open_ms = START_MS + MINUTE_MS * np.arange(HISTORY_MINUTES, dtype=np.int64)
    for i, symbol in enumerate(SYMBOLS):
        close = history["close"][:, i]
        book.load_history(BarHistory(symbol, open_ms, close, history["high"][:, i],
                                     history["low"][:, i], close, history["quote_volume"][:, i]
                                     / close, history["quote_volume"][:, i]))
    last_open = int(open_ms[-1])
    book.advance_to(last_open)
    warm_s = time.perf_counter() - started
    tick_ms = last_open + MINUTE_MS + 1_000  # ticks after the last closed bar
    single, arrays = _frames(rng, history["close"][-1], tick_ms)

    gc.disable()  # as timeit does: collector pauses are not what we measure
    try:
        single_rate, single_median = _rounds(3, lambda: _single_path(book, single, tick_ms))
        naive_single_n = 300
        naive_single_rate = rate(naive_single_n, _naive_tick_path(single[:naive_single_n]))
        array_rate, array_median = _rounds(
            3, lambda: _array_path(book, arrays, tick_ms, repeats=10))
        state = pd.DataFrame(np.nan, index=list(SYMBOLS),
                             columns=["last", "bid", "ask", "bid_qty", "ask_qty", "qv"])
        naive_array_rate = rate(len(arrays) * N_SYMBOLS, _naive_array_path(arrays, state))

        # Where the array path's time goes: parsing alone vs the feature update alone.
        started = time.perf_counter()
        batches = [parse_ticker_array(raw, tick_ms) for raw in arrays * 5]
        parse_only_rate = rate(len(batches) * N_SYMBOLS, time.perf_counter() - started)
        started = time.perf_counter()
        for batch in batches:
            book.on_tick_batch(batch)
        update_only_rate = rate(len(batches) * N_SYMBOLS, time.perf_counter() - started)

        # Decision step: advance_to + matrix + rank, a fresh ticker array between steps.
        decisions: list = []

        def decide() -> None:
            book.advance_to(last_open)
            matrix = book.matrix()
            decisions.append(rank(matrix, book.feature_names, book.symbols, config))

        samples = []
        for k in range(500):
            book.on_tick_batch(batches[k % len(batches)])
            samples.append(time_each(decide, 1)[0])
        ours = percentiles_ms(np.array(samples))

        frames = {"close": pd.DataFrame(history["close"]),
                  "qv": pd.DataFrame(history["quote_volume"]),
                  "high": pd.DataFrame(history["high"]), "low": pd.DataFrame(history["low"])}
        frames["ret"] = np.log(frames["close"]).diff()
        last = pd.Series(history["close"][-1])
        naive_out: list[pd.DataFrame] = []

        def naive_decide() -> None:
            naive_out.append(_naive_features(frames, last))
            rank(book.matrix(), book.feature_names, book.symbols, config)

        naive = percentiles_ms(time_each(naive_decide, 2))
    finally:
        gc.enable()
    # Sanity: the naive 1h moving average agrees with ours (last = last close here).
    ours_px = np.log(history["close"][-1] / (book._bars.sum_close[:, 5] / 60))
    agreement = float(np.max(np.abs(naive_out[-1]["px_ma_60"].to_numpy() - ours_px)))

    figures = {
        "symbols": N_SYMBOLS, "history_minutes": HISTORY_MINUTES, "warmup_s": round(warm_s, 2),
        "single_frames_tickers_per_s": single_rate,
        "single_frames_naive_tickers_per_s": naive_single_rate,
        "single_frames_speedup": round(single_rate / naive_single_rate, 1),
        "array_frames_tickers_per_s": array_rate,
        "array_frames_naive_tickers_per_s": naive_array_rate,
        "array_frames_speedup": round(array_rate / naive_array_rate, 1),
        "array_frames_target_met": array_rate >= TARGET_TICKERS_PER_S,
        "array_frames_parse_only_tickers_per_s": parse_only_rate,
        "array_frames_update_only_tickers_per_s": update_only_rate,
        "decision_p50_ms": ours["p50_ms"], "decision_p99_ms": ours["p99_ms"],
        "decision_max_ms": ours["max_ms"], "decision_samples": ours["samples"],
        "decision_naive_p50_ms": naive["p50_ms"], "decision_naive_max_ms": naive["max_ms"],
        "decision_naive_samples": naive["samples"],
        "single_frames_measure": "best of 3 rounds of 5000 frames",
        "single_frames_median_tickers_per_s": round(single_median, 1),
        "array_frames_median_tickers_per_s": round(array_median, 1),
        "array_frames_measure": "best of 3 rounds of 100 frames x 500 tickers",
        "decision_speedup_p50": round(naive["p50_ms"] / ours["p50_ms"], 1),
        "decision_p99_target_met": ours["p99_ms"] <= TARGET_P99_MS,
        "naive_vs_ours_px_ma_1h_max_abs_diff": agreement,
        "top_candidate": decisions[-1][0].symbol if decisions[-1] else None,
    }
    show("features: 500 symbols, a month of 1m history",
         ["measure", "ours", "naive pandas", "ratio", "target"],
         [["tickers/s, single-ticker frames", f"{single_rate:,.0f}",
           f"{naive_single_rate:,.0f}", f"{figures['single_frames_speedup']}x", "-"],
          ["tickers/s, !ticker@arr frames", f"{array_rate:,.0f}", f"{naive_array_rate:,.0f}",
           f"{figures['array_frames_speedup']}x", f">= {TARGET_TICKERS_PER_S:,}"],
          ["  of which parse only", f"{parse_only_rate:,.0f}", "", "", ""],
          ["  of which on_tick_batch only", f"{update_only_rate:,.0f}", "", "", ""],
          ["decision step p50 (ms)", f"{ours['p50_ms']:.3f}", f"{naive['p50_ms']:.0f}",
           f"{figures['decision_speedup_p50']}x", "-"],
          ["decision step p99 (ms)", f"{ours['p99_ms']:.3f}",
           f"max {naive['max_ms']:.0f} (n=2)", "-", f"<= {TARGET_P99_MS}"]])
    console.print(f"warm-up of {N_SYMBOLS} x {HISTORY_MINUTES} bars: {warm_s:.1f} s; "
                  f"naive/ours 1h MA agreement {agreement:.1e}")
    return figures
