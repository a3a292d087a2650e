"""The measured runs of `python -m bench backtest`, each run in a freshly spawned process.

Each function here is what one spawned child of bench/backtest.py runs (through `in_child`),
so that each measurement gets its own peak RSS: the event engine's `run_backtest` (optionally
under cProfile), the fast backtester's batch policies, and the import floor. Kept apart from
bench/backtest.py, which prepares the data and reads, judges and prints the figures. They
must stay module-level functions of an importable module: the spawn context pickles them by
name and the child imports this module to find them.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench._profile_groups import breakdown
from bench.common import peak_rss_mb

# Read by the children and by bench/backtest.py (which imports them from here).
WARMUP_MINUTES = 1440
ROUNDS = 2
FAST_POLICIES = ("flat", "buyhold", "sma")
PYTHON_SMA = "sma, python loop"  # the SMA through the Python loop, the lane's reference


def child_backtest(data_dir: str, from_ms: int, to_ms: int, balance: str | None,
                   profile: bool, wire_frames: bool = False,
                   policy: str = "baseline") -> dict[str, Any]:
    """One `run_backtest` in this (fresh) process: timings, peak RSS, optional profile."""
    import cProfile

    from bot.config import load_config
    from bot.research.backtest import run_backtest

    config = load_config(None, environ={})
    marks: list[float] = []
    profiler = cProfile.Profile() if profile else None

    def progress(done: int, total: int) -> None:
        marks.append(time.perf_counter())
        if profiler is not None and done == 1:
            profiler.enable()

    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        started = time.perf_counter()
        result = run_backtest(config, Path(data_dir), Path(tmp) / "ledger.sqlite",
                              policy=policy, from_ms=from_ms, to_ms=to_ms,
                              balance=Decimal(balance) if balance is not None else None,
                              warmup_minutes=WARMUP_MINUTES, progress=progress,
                              wire_frames=wire_frames)
        wall = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
    out = {"wall_s": wall, "setup_s": marks[0] - started if marks else wall,
           "loop_s": marks[-1] - marks[0] if len(marks) > 1 else 0.0,
           "finish_s": time.perf_counter() - marks[-1] if marks else 0.0,
           "minutes": result.minutes, "symbols": result.symbols, "quote": result.quote_asset,
           "trades": result.performance.trades, "total_return": result.performance.total_return,
           "ledger_digest": result.ledger_digest, "peak_rss_mb": peak_rss_mb()}
    if profiler is not None:
        out["profile"] = breakdown(profiler)
    return out


def child_fast(data_dir: str, from_ms: int, to_ms: int, balance: str | None) -> dict[str, Any]:
    """The fast backtester on the same window: load once, then each batch policy's
    `run_fast` best of ROUNDS; SMA once more end to end into a ledger."""
    from bot.config import load_config
    from bot.research.fast_backtest import replay_inputs, run_fast_backtest, window_rows
    from trading.batch_policies import make_batch_policy
    from trading.fast_backtest import FastSettings, run_fast

    config = load_config(None, environ={})
    deposit = Decimal(balance) if balance is not None else \
        Decimal(str(config.trading.starting_balance))
    started = time.perf_counter()
    inputs = replay_inputs(config, Path(data_dir), warmup_minutes=WARMUP_MINUTES)
    load_s = time.perf_counter() - started
    start, stop = window_rows(inputs.grid, inputs.warmup_rows, from_ms, to_ms)
    settings = FastSettings.from_config(config, inputs.grid.bar_ms)
    runs: dict[str, Any] = {}
    # (name, policy, compiled): "sma, python loop" is the SMA without its compiled lane
    for name, policy, compiled in [*((p, p, True) for p in FAST_POLICIES),
                                   (PYTHON_SMA, "sma", False)]:
        best = float("inf")
        for _ in range(ROUNDS + 1):  # the first call also compiles the numba kernels
            began = time.perf_counter()
            result = run_fast(inputs.grid, make_batch_policy(policy), settings,
                              start_row=start, stop_row=stop, balance=deposit,
                              market=inputs.market, compiled=compiled)
            summary = result.performance()  # timed: what a research run reads of it
            best = min(best, time.perf_counter() - began)
        runs[name] = {"loop_s": best, "trades": summary.trades, "fills": len(result.fill_ts_ms),
                      "total_return": summary.total_return, "steps": len(result.equity),
                      "lane": result.lane}
    with tempfile.TemporaryDirectory(prefix="bench-fast-") as tmp:
        began = time.perf_counter()
        end_to_end = run_fast_backtest(config, Path(data_dir), Path(tmp) / "fast.sqlite",
                                       policy="sma", from_ms=from_ms, to_ms=to_ms,
                                       balance=deposit, warmup_minutes=WARMUP_MINUTES)
        wall_s = time.perf_counter() - began
    symbols = sum(1 for i in inputs.market.instruments if i.quote == end_to_end.quote_asset)
    return {"load_s": load_s, "runs": runs, "rows": stop - start, "symbols": symbols,
            "end_to_end_s": wall_s, "peak_rss_mb": peak_rss_mb()}


def child_floor() -> dict[str, Any]:
    """Peak RSS of a process that only imports what the backtest imports."""
    import bot.config  # noqa: F401
    import strategies.baselines  # noqa: F401

    return {"peak_rss_mb": peak_rss_mb()}


def in_child(function: Any, *args: Any) -> dict[str, Any]:
    """Run `function(*args)` in a freshly spawned process (its own peak RSS)."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(function, *args).result()

