"""Full-pipeline replay throughput (1m candles/s on 20 coins) and peak memory of a backtest.

Measured in the same run, each in its own fresh (spawned) child process so each gets its own
peak RSS (the child's VmHWM from /proc/self/status; `ru_maxrss` only where /proc is missing,
since Linux carries ru_maxrss over fork + exec and it would include the parent's RSS):
- ours: `bot.research.backtest.run_backtest` with the default "baseline" policy: replay feed (Binance
  frames, parsed) -> features -> ranking -> policy -> risk -> paper fills -> SQLite ledger.
  Throughput is candles/s with candles = minutes played x tradable symbols; the steady figure
  times the play loop (first to last `progress` callback), the end-to-end figure also counts
  the CSV load, the backfill and the final statistics. Best of `ROUNDS` children.
- naive: a per-candle plain-Python SMA(20/50) crossover loop over the same candles (lists of
  floats; per symbol per minute: update the two running sums, decide the cross, fill at the
  close with the taker fee, one cash bucket per symbol). Its data comes through the same
  `ReplaySource` grid; only the loop is timed (best of 3).
- fast: the fast backtester (`trading.fast_backtest.run_fast`, `entasis backtest --engine
  fast`) on the same window, in its own child: the flat, buyhold and SMA(20/50) batch
  policies, each the best of `ROUNDS` timed `run_fast(...).performance()` calls on inputs
  already in memory (the bar loop, matching, booking, risk sizing, marks and the trading
  figures; `fast_candles_per_s`), the SMA once more through the Python loop instead of its
  compiled lane (trading/sma_lane.py: the lane's reference, same fills), its input load
  (the replay's parsed bars and tick quotes) timed apart, and SMA end to end (load + run +
  ledger, whose rows the Python loop writes). Beside it the event engine with the same SMA policy (one round),
  so the ratio compares like with like, and whether the two gave the same trades and return.
  Target: >= 1,000,000 candles/s for SMA on 20 coins x 30 days of 1m
  (BENCH_BACKTEST_MINUTES=43200).
- an import floor: a child that only imports what the backtest imports, so the peak RSS can
  be read as "interpreter + libraries" plus "the run's own data".
- where the time goes: one short run under cProfile (the profiler switched on at the first
  played minute, so the load and backfill are left out), own time per module group, with
  time in numpy/stdlib/C functions charged to the project function that called them.

Default data: a seeded generated market (`bench._market_csv`: 20 USDT coins) written as CSVs
to a temp folder: 1440 minutes of warm-up history, then `MINUTES` (720) played.
Targets: >= 100k candles/s through the play loop (issue 3), <= 1 GB peak RSS; issue 15's
>= 60,000 candles/s end to end on 20 coins x 30 days (baseline and SMA policies).

Options (environment, since `python -m bench NAME` takes only names), or the same as flags of
`python -m bench.backtest [--data DIR] [--balance X] [--minutes N]`:
- BENCH_BACKTEST_DATA=DIR: replay a folder of `<BASE>_<QUOTE>-1m.csv[.gz]` instead, e.g.
  /work/shared/data/ohlcv/freqtrade_bittrex_2017-11 (20 BTC-quoted coins); the first 1440
  minutes (at most half the data) are warm-up, as in `entasis backtest`.
- BENCH_BACKTEST_BALANCE=X: starting balance in the quote asset; default 1 when the
  dominant quote is BTC, else the config's `trading.starting_balance` (10000).
- BENCH_BACKTEST_MINUTES=N: minutes played (default 720; 0 = all the data after warm-up).
- BENCH_BACKTEST_WIRE=1 (`--wire-frames`): replay through serialized and re-parsed Binance
  frames, as before the direct replay path (the before/after of issue 15 item 3).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._backtest_children import (
    FAST_POLICIES,
    PYTHON_SMA,
    ROUNDS,
    WARMUP_MINUTES,
    child_backtest,
    child_fast,
    child_floor,
    in_child,
)
from bench._sma_yardsticks import FAST, NAIVE_ROUNDS, SLOW, child_naive, child_vectorbt
from bench.common import console, rate, show

COINS = 20
MINUTES = 720
PROFILE_MINUTES = 180
SEED = 7
TARGET_CANDLES_PER_S = 100_000
TARGET_FAST_CANDLES_PER_S = 1_000_000
# Issue 15: the engine end to end (load, backfill, replay, statistics, digest) on 20 coins x 30
# days of 1m (BENCH_BACKTEST_MINUTES=43200), with the baseline and with the SMA policy.
TARGET_ENGINE_END_TO_END = 60_000
TARGET_ENGINE_MINUTES = 43_200  # the end-to-end target is judged on runs this long only
TARGET_PEAK_MB = 1024.0
MINUTE_MS = 60_000


# -- options -------------------------------------------------------------------------------
def _options(argv: list[str] | None = None) -> argparse.Namespace:
    """Flags (when run as `python -m bench.backtest`) over environment variables."""
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m bench.backtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=env.get("BENCH_BACKTEST_DATA") or None)
    parser.add_argument("--balance", default=env.get("BENCH_BACKTEST_BALANCE") or None)
    parser.add_argument("--minutes", type=int,
                        default=int(env.get("BENCH_BACKTEST_MINUTES") or MINUTES))
    parser.add_argument("--wire-frames", action="store_true",
                        default=env.get("BENCH_BACKTEST_WIRE", "") not in ("", "0"))
    return parser.parse_args([] if argv is None else argv)


def _played(data_dir: Path, from_ms: int | None, minutes: int) -> dict[str, Any]:
    """The minutes `run_backtest` will play and the symbols it trades (as it computes them)."""
    from exchange.sim.replay import ReplaySource
    from model.instruments import dominant_quote

    source = ReplaySource.from_dir(data_dir, warmup_minutes=WARMUP_MINUTES)
    start = source.now_ms if from_ms is None else max(source.now_ms, from_ms)
    end = source.end_ms if minutes <= 0 else min(source.end_ms, start + minutes * MINUTE_MS)
    quote = dominant_quote(source.instruments)
    return {"from_ms": start, "to_ms": end, "minutes": (end - start) // MINUTE_MS,
            "quote": quote, "warmup_minutes": (start - source.store.first_open_ms) // MINUTE_MS,
            "symbols": [i.symbol for i in source.instruments if i.quote == quote],
            "all_symbols": len(source.instruments)}


# -- the benchmark -------------------------------------------------------------------------
def run(argv: list[str] | None = None) -> dict:
    """Measure and print; return the figures."""
    options = _options(argv)
    from bot.config import load_config

    config = load_config(None, environ={})
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-market-") as tmp:
        if options.data:
            data_dir = Path(options.data)
            origin = str(data_dir)
            played = _played(data_dir, None, options.minutes)
        else:
            from bench._market_csv import START_MS, write_market

            data_dir = Path(tmp) / "market"
            write_market(data_dir, coins=COINS, minutes=WARMUP_MINUTES + options.minutes,
                         seed=SEED, quote="USDT")
            origin = f"generated (seed {SEED}, {COINS} USDT coins)"
            # Play exactly the last `minutes` after a full day of warm-up (the replay alone
            # would cap the warm-up at half the data).
            played = _played(data_dir, START_MS - options.minutes * MINUTE_MS, options.minutes)
        balance = options.balance or ("1" if played["quote"] == "BTC" else None)
        prep_s = time.perf_counter() - started
        console.print(f"[dim]data: {origin}; {played['warmup_minutes']} warm-up minutes, "
                      f"{played['minutes']} played x {len(played['symbols'])} "
                      f"{played['quote']} symbols (of {played['all_symbols']}); "
                      f"prepared in {prep_s:.1f} s[/dim]")
        args = (str(data_dir), played["from_ms"], played["to_ms"])

        naive = in_child(child_naive, *args, played["symbols"], config.fills.taker_fee_bps,
                          WARMUP_MINUTES)
        vectorbt = in_child(child_vectorbt, *args, played["symbols"],
                             config.fills.taker_fee_bps, WARMUP_MINUTES)
        floor = in_child(child_floor)
        wire = options.wire_frames
        ours = [in_child(child_backtest, *args, balance, False, wire) for _ in range(ROUNDS)]
        fast = in_child(child_fast, *args, balance)
        engine_sma = in_child(child_backtest, *args, balance, False, wire, "sma")
        profile_to = min(played["to_ms"], played["from_ms"] + PROFILE_MINUTES * MINUTE_MS)
        profiled = in_child(child_backtest, str(data_dir), played["from_ms"], profile_to,
                             balance, True, wire)

    symbols = ours[0]["symbols"]
    candles = ours[0]["minutes"] * symbols
    best = min(ours, key=lambda r: r["loop_s"])
    # The loop is timed from the end of minute 1 to the end of the last minute.
    steady = rate((best["minutes"] - 1) * symbols, best["loop_s"])
    end_to_end = rate(candles, min(r["wall_s"] for r in ours))
    naive_rate = rate(naive["minutes"] * naive["symbols"], naive["loop_s"])
    peak = max(r["peak_rss_mb"] for r in ours)
    profile = profiled["profile"]
    figures = {
        "data": origin, "quote": played["quote"], "symbols": symbols,
        "warmup_minutes": played["warmup_minutes"], "minutes_played": best["minutes"],
        "candles": candles, "balance": balance or str(config.trading.starting_balance),
        "replay": "wire frames" if wire else "direct events",
        "candles_per_s": steady, "candles_per_s_end_to_end": end_to_end,
        "candles_per_s_rounds": [rate((r["minutes"] - 1) * symbols, r["loop_s"]) for r in ours],
        "setup_s": round(best["setup_s"], 2), "loop_s": round(best["loop_s"], 2),
        "finish_s": round(best["finish_s"], 2), "wall_s": round(best["wall_s"], 2),
        "ms_per_minute": round(best["loop_s"] / max(best["minutes"] - 1, 1) * 1e3, 3),
        "naive_sma_candles_per_s": naive_rate,
        "ours_over_naive": round(steady / naive_rate, 5),
        "naive_over_ours": round(naive_rate / steady, 1),
        "peak_rss_mb": peak, "naive_peak_rss_mb": naive["peak_rss_mb"],
        "import_floor_rss_mb": floor["peak_rss_mb"],
        "throughput_target_met": steady >= TARGET_CANDLES_PER_S,
        # None on shorter runs: their end to end is mostly the fixed set-up and finish
        "end_to_end_target_met": (end_to_end >= TARGET_ENGINE_END_TO_END
                                  if best["minutes"] >= TARGET_ENGINE_MINUTES else None),
        "memory_target_met": peak <= TARGET_PEAK_MB,
        "trades": best["trades"], "total_return": best["total_return"],
        "naive_trades": naive["trades"], "naive_total_return": round(naive["total_return"], 6),
        "same_ledger_every_round": len({r["ledger_digest"] for r in ours}) == 1,
        "profile_minutes": profiled["minutes"], "profile_total_s": profile["total_s"],
        "profile_groups_s": profile["groups_s"],
        "profile_top_cumulative": profile["top_cumulative"][:5],
        "measure": (f"ours: best of {ROUNDS} spawned children, play loop from minute 1 to the "
                    f"last; naive: best of {NAIVE_ROUNDS}, loop only"),
    }
    fast_candles = fast["rows"] * fast["symbols"]
    fast_rates = {name: rate(fast_candles, r["loop_s"]) for name, r in fast["runs"].items()}
    engine_sma_rate = rate((engine_sma["minutes"] - 1) * symbols, engine_sma["loop_s"])
    fast_sma = fast["runs"]["sma"]
    figures.update({
        "fast_candles": fast_candles, "fast_candles_per_s": fast_rates,
        "fast_sma_candles_per_s": fast_rates["sma"],
        "fast_load_s": round(fast["load_s"], 2),
        "fast_sma_end_to_end_candles_per_s": rate(fast_candles, fast["end_to_end_s"]),
        "fast_peak_rss_mb": fast["peak_rss_mb"],
        "engine_sma_candles_per_s": engine_sma_rate,
        "engine_sma_candles_per_s_end_to_end": rate(candles, engine_sma["wall_s"]),
        "engine_sma_end_to_end_target_met": (
            rate(candles, engine_sma["wall_s"]) >= TARGET_ENGINE_END_TO_END
            if engine_sma["minutes"] >= TARGET_ENGINE_MINUTES else None),
        "fast_over_engine_sma": round(fast_rates["sma"] / engine_sma_rate, 1),
        "fast_sma_trades": fast_sma["trades"], "engine_sma_trades": engine_sma["trades"],
        "fast_sma_same_result_as_engine": (
            fast_sma["trades"] == engine_sma["trades"]
            and abs(fast_sma["total_return"] - engine_sma["total_return"]) < 1e-6),
        "fast_throughput_target_met": fast_rates["sma"] >= TARGET_FAST_CANDLES_PER_S,
    })
    vbt_rate = (rate(vectorbt["minutes"] * vectorbt["symbols"], vectorbt["loop_s"])
                if vectorbt is not None else None)
    figures.update({
        "vectorbt_sma_candles_per_s": vbt_rate,
        "vectorbt_version": vectorbt["version"] if vectorbt is not None else None,
        "vectorbt_sma_trades": vectorbt["trades"] if vectorbt is not None else None,
        "fast_sma_over_vectorbt": (round(fast_rates["sma"] / vbt_rate, 3)
                                   if vbt_rate else None),
        "fast_over_vectorbt_target_met": (fast_rates["sma"] >= vbt_rate
                                          if vbt_rate else None),
        "fast_sma_lane": fast_sma["lane"],
        "fast_sma_python_loop_candles_per_s": fast_rates[PYTHON_SMA],
        "fast_sma_lane_over_python_loop": round(fast_rates["sma"] / fast_rates[PYTHON_SMA], 2),
        "fast_sma_lane_same_result": (
            fast_sma["fills"] == fast["runs"][PYTHON_SMA]["fills"]
            and fast_sma["total_return"] == fast["runs"][PYTHON_SMA]["total_return"]),
    })

    def met(ok: bool | None) -> str:
        if ok is None:
            return f"judged on {TARGET_ENGINE_MINUTES:,}-minute runs"
        return "[green]met[/green]" if ok else "[red]NOT met[/red]"

    show(f"backtest: {symbols} {played['quote']} coins, {best['minutes']} minutes played "
         f"({candles:,} candles), policy baseline, replay of {figures['replay']}",
         ["measure", "ours", "naive SMA", "ours/naive", "target", "status"],
         [["candles/s, play loop", f"{steady:,.0f}", f"{naive_rate:,.0f}",
           f"{figures['ours_over_naive']:.4f}x",
           f">= {TARGET_CANDLES_PER_S:,}", met(figures["throughput_target_met"])],
          ["candles/s, end to end", f"{end_to_end:,.0f}", "-", "-",
           f">= {TARGET_ENGINE_END_TO_END:,}", met(figures["end_to_end_target_met"])],
          ["ms per minute", f"{figures['ms_per_minute']:.2f}",
           f"{naive['loop_s'] / max(naive['minutes'], 1) * 1e3:.4f}", "-", "-", "-"],
          ["peak RSS MB", f"{peak:,.0f}", f"{naive['peak_rss_mb']:,.0f}", "-",
           f"<= {TARGET_PEAK_MB:,.0f}", met(figures["memory_target_met"])],
          ["  imports alone", f"{floor['peak_rss_mb']:,.0f}", "", "", "", ""],
          ["s: setup/loop/finish",
           f"{best['setup_s']:.1f}/{best['loop_s']:.1f}/{best['finish_s']:.2f}",
           f"-/{naive['loop_s']:.3f}/-", "", "", ""],
          ["trades, return", f"{best['trades']}, {best['total_return']:+.3%}",
           f"{naive['trades']}, {naive['total_return']:+.3%}", "", "", ""]])
    show(f"fast path (run_fast + performance(), inputs in memory; best of {ROUNDS}) beside "
         f"the event engine, {fast_candles:,} candles; sma traded by the {fast_sma['lane']} "
         "lane",
         ["policy", "fast candles/s", "engine candles/s", "fast/engine", "trades fast/engine",
          "target", "status"],
         [[name, f"{fast_rates[name]:,.0f}",
           f"{engine_sma_rate:,.0f}" if name == "sma" else "-",
           f"{figures['fast_over_engine_sma']:,.1f}x" if name == "sma" else "-",
           (f"{fast_sma['trades']}/{engine_sma['trades']}" if name == "sma"
            else str(fast["runs"][name]["trades"])),
           f">= {TARGET_FAST_CANDLES_PER_S:,}" if name == "sma" else "-",
           met(figures["fast_throughput_target_met"]) if name == "sma" else "-"]
          for name in FAST_POLICIES]
         + [[f"{PYTHON_SMA} (the lane's reference)", f"{fast_rates[PYTHON_SMA]:,.0f}", "-",
             f"lane/loop {figures['fast_sma_lane_over_python_loop']:.1f}x",
             str(fast["runs"][PYTHON_SMA]["trades"]), "-",
             "same fills and return" if figures["fast_sma_lane_same_result"]
             else "[red]results differ[/red]"]]
         + [["vectorbt from_signals (sma, no fill model)",
             f"{vbt_rate:,.0f}" if vbt_rate else "not installed", "-",
             (f"fast/vbt {figures['fast_sma_over_vectorbt']:.2f}x" if vbt_rate else "-"),
             str(vectorbt["trades"]) if vectorbt is not None else "-",
             "fast sma >= vbt",
             met(figures["fast_over_vectorbt_target_met"]) if vbt_rate else "-"]]
         + [["sma end to end", f"{figures['fast_sma_end_to_end_candles_per_s']:,.0f}",
             f"{figures['engine_sma_candles_per_s_end_to_end']:,.0f}", "-", "-",
             f"engine >= {TARGET_ENGINE_END_TO_END:,}",
             met(figures["engine_sma_end_to_end_target_met"])],
            ["load s / peak RSS MB", f"{fast['load_s']:.1f} / {fast['peak_rss_mb']:,.0f}",
             f"- / {engine_sma['peak_rss_mb']:,.0f}", "", "", "", ""]])
    console.print(f"ours: run_backtest, policy baseline (feed, features, ranking, policy, risk, "
                  f"fills, ledger); naive: plain-Python SMA({FAST}/{SLOW}) crossover, fill at "
                  f"close; the naive loop is {figures['naive_over_ours']:,}x faster per candle. "
                  f"End to end adds the CSV load, the backfill and the final statistics.")
    total = profile["total_s"]
    show(f"where the play loop's time goes: cProfile, {profiled['minutes']} minutes "
         f"({total:.1f} s profiled; own time, library calls charged to their project caller)",
         ["module group", "seconds", "share"],
         [[name, f"{sec:.2f}", f"{sec / total:.0%}"] for name, sec in
          profile["groups_s"].items()])
    show("top cumulative project functions (same profile)", ["function", "cumulative s"],
         [[e["function"], f"{e['cum_s']:.2f}"] for e in profile["top_cumulative"]])
    console.print(f"[dim]rounds: {figures['candles_per_s_rounds']} candles/s; identical ledger "
                  f"every round: {figures['same_ledger_every_round']}[/dim]")
    return figures


if __name__ == "__main__":
    print(json.dumps({"backtest": run(sys.argv[1:])}, sort_keys=True))
