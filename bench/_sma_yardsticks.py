"""The yardsticks `python -m bench backtest` measures beside our backtesters, on the same
candles: a plain-Python SMA(20/50) crossover loop (the naive floor of per-candle work) and
vectorbt's `Portfolio.from_signals` on the same signal (the tool a user would otherwise
pick; in the `bench` extra). Each runs in its own spawned child (see bench/backtest.py).
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import peak_rss_mb

FAST, SLOW = 20, 50
NAIVE_ROUNDS = 3


def child_naive(data_dir: str, from_ms: int, to_ms: int, symbols: list[str],
                fee_bps: float, warmup_minutes: int) -> dict[str, Any]:
    """The naive SMA(20/50) loop over the same candles, best of NAIVE_ROUNDS."""
    from exchange.sim.replay import ReplaySource

    source = ReplaySource.from_dir(data_dir, warmup_minutes=warmup_minutes)
    columns = [source.symbols.index(s) for s in symbols]
    store = source.store
    lo, start, end = 0, store.row_of(from_ms), store.row_of(to_ms)
    close = store.column("close", slice(lo, end))[:, columns].tolist()
    traded = store.column("traded", slice(lo, end))[:, columns].tolist()
    rows = [[c if t else None for c, t in zip(cs, ts)] for cs, ts in zip(close, traded)]
    del close, traded, source
    warm, played = rows[:start], rows[start:]
    best, results = float("inf"), {}
    for _ in range(NAIVE_ROUNDS):
        state = _naive_state(len(symbols))
        _naive_loop(warm, state, fee_bps)  # the warm-up: not timed
        started = time.perf_counter()
        _naive_loop(played, state, fee_bps)
        best = min(best, time.perf_counter() - started)
        results = state
    last = [next((r[s] for r in reversed(rows) if r[s] is not None), 0.0)
            for s in range(len(symbols))]
    equity = sum(c + q * p for c, q, p in zip(results["cash"], results["qty"], last))
    return {"loop_s": best, "minutes": len(played), "symbols": len(symbols),
            "trades": results["trades"], "total_return": equity / len(symbols) - 1.0,
            "peak_rss_mb": peak_rss_mb()}


def child_vectorbt(data_dir: str, from_ms: int, to_ms: int, symbols: list[str],
                   fee_bps: float, warmup_minutes: int) -> dict[str, Any] | None:
    """vectorbt's `Portfolio.from_signals` on the same SMA(20/50) cross and candles (closes
    forward-filled, the fee per side), indicators included, best of NAIVE_ROUNDS after one
    untimed call that compiles its kernels; None when vectorbt is not installed (it is in
    the `bench` extra)."""
    try:
        import vectorbt as vbt
    except ImportError:
        return None
    import numpy as np
    import pandas as pd

    from exchange.sim.replay import ReplaySource

    source = ReplaySource.from_dir(data_dir, warmup_minutes=warmup_minutes)
    columns = [source.symbols.index(s) for s in symbols]
    store = source.store
    start, end = store.row_of(from_ms), store.row_of(to_ms)
    traded = store.column("traded", slice(0, end))[:, columns].astype(bool)
    close = pd.DataFrame(np.where(traded, store.column("close", slice(0, end))[:, columns],
                                  np.nan), columns=symbols).ffill()
    del source

    def once() -> Any:
        fast = vbt.MA.run(close, FAST)
        slow = vbt.MA.run(close, SLOW)
        entries = fast.ma_crossed_above(slow).iloc[start:]
        exits = fast.ma_crossed_below(slow).iloc[start:]
        return vbt.Portfolio.from_signals(close.iloc[start:], entries, exits,
                                          fees=fee_bps / 1e4, init_cash=1.0, freq="1min")

    once()
    best = float("inf")
    for _ in range(NAIVE_ROUNDS):
        began = time.perf_counter()
        portfolio = once()
        best = min(best, time.perf_counter() - began)
    return {"loop_s": best, "minutes": end - start, "symbols": len(symbols),
            "trades": int(portfolio.trades.count().sum()),
            "total_return": float(portfolio.total_return().mean()),
            "version": vbt.__version__, "peak_rss_mb": peak_rss_mb()}


def _naive_state(n: int) -> dict[str, Any]:
    return {"hist": [[] for _ in range(n)], "fast": [0.0] * n, "slow": [0.0] * n,
            "above": [None] * n, "cash": [1.0] * n, "qty": [0.0] * n, "trades": 0}


def _naive_loop(rows: list[list[float | None]], state: dict[str, Any], fee_bps: float) -> None:
    """Per minute, per symbol: running SMA(20) and SMA(50), a cross flips the position, filled
    at the close less the fee (the plain-Python strategy loop we compare against)."""
    hist, fast, slow, above = state["hist"], state["fast"], state["slow"], state["above"]
    cash, qty = state["cash"], state["qty"]
    keep = 1.0 - fee_bps / 1e4
    trades = state["trades"]
    for row in rows:
        for s, c in enumerate(row):
            if c is None:
                continue  # no bar this minute
            h = hist[s]
            h.append(c)
            n = len(h)
            f = fast[s] + c
            if n > FAST:
                f -= h[n - FAST - 1]
            w = slow[s] + c
            if n > SLOW:
                w -= h[n - SLOW - 1]
            fast[s], slow[s] = f, w
            if n < SLOW:
                continue
            up = f * SLOW > w * FAST  # SMA20 > SMA50
            if up == above[s]:
                continue
            if above[s] is not None:
                if up and qty[s] == 0.0:
                    qty[s], cash[s] = cash[s] * keep / c, 0.0
                    trades += 1
                elif not up and qty[s] > 0.0:
                    cash[s], qty[s] = qty[s] * c * keep, 0.0
                    trades += 1
            above[s] = up
    state["trades"] = trades
