"""The paper daemon's memory with 500 simulated coins (issue 15: at most 600 MB RSS).

The daemon runs as `entasis run` does with `[sim] coins = N`: the embedded simulator in the
same process generates its 31 days of 1m history, the feed backfills 30 days of it over REST
into the features, and the engine decides. Each size runs in a fresh process
(bench/_daemon_probe.py), so one never counts against another. Measured in the same run:
- the daemon at 50 coins: the MB each extra coin costs is the slope from 50 to 500;
- the floor: the month of 1m bars itself, six float64 fields held once (what a single copy
  of the history costs before any compaction).
RSS is VmRSS after the first decisions; peak is VmHWM (generation temporaries included).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import console, show

SMALL_COINS, LARGE_COINS = 50, 500
TARGET_MB = 600.0
PROBE_TIMEOUT_S = 900
STAGES = ("imports", "sim_history_generated", "backfill_in_features", "first_decisions")


def probe(coins: int) -> dict[str, Any]:
    """Figures of one daemon at `coins` coins, run in a fresh Python process."""
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "bench._daemon_probe", "--coins", str(coins)],
        cwd=repo, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the daemon at {coins} coins failed (exit {done.returncode}):\n"
                           f"{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def run() -> dict:
    """Measure both sizes and print; return the figures."""
    small, large = probe(SMALL_COINS), probe(LARGE_COINS)
    rss = large["rss_mb"]["first_decisions"]
    peak = large["peak_rss_mb"]["first_decisions"]
    floor = large["structures_mb"]["history_floor_float64"]
    per_coin = (rss - small["rss_mb"]["first_decisions"]) / (LARGE_COINS - SMALL_COINS)
    figures = {
        "coins": LARGE_COINS, "history_minutes": large["history_minutes"],
        "rss_mb": rss, "peak_rss_mb": peak, "target_mb": TARGET_MB,
        "meets_target": rss <= TARGET_MB,
        "baseline_coins": SMALL_COINS, "baseline_rss_mb": small["rss_mb"]["first_decisions"],
        "mb_per_coin": round(per_coin, 2),
        "history_floor_mb": floor, "rss_over_floor": round(rss / floor, 2),
        "structures_mb": large["structures_mb"],
        "store_fields_on_grid": large["store_fields_on_grid"],
        "seconds_to_decide": large["seconds_to_decide"],
        "measure": "VmRSS after 3 decision steps, one fresh process per size",
    }
    show(f"daemon memory: [sim] coins = {SMALL_COINS} vs {LARGE_COINS}, "
         f"{large['history_minutes']} minutes of 1m history",
         ["stage", f"RSS MB, {SMALL_COINS} coins", f"RSS MB, {LARGE_COINS} coins",
          f"peak MB, {LARGE_COINS} coins"],
         [[stage, f"{small['rss_mb'][stage]:,.0f}", f"{large['rss_mb'][stage]:,.0f}",
           f"{large['peak_rss_mb'][stage]:,.0f}"] for stage in STAGES])
    show(f"where it goes at {LARGE_COINS} coins (allocated arrays)",
         ["structure", "MB", "share of RSS"],
         [[name, f"{mb:,.0f}", f"{mb / rss:.0%}"] for name, mb in large["structures_mb"].items()])
    show("issue 15's target", ["measure", "RSS MB", "target MB", "status"],
         [[f"paper daemon, [sim] coins = {LARGE_COINS}, first decisions", f"{rss:,.0f}",
           f"{TARGET_MB:,.0f}", "met" if rss <= TARGET_MB else "NOT met"]])
    console.print(
        f"RSS {rss:,.0f} MB (target {TARGET_MB:,.0f}: {'met' if rss <= TARGET_MB else 'NOT met'}),"
        f" {per_coin:.2f} MB per coin, {rss / floor:.2f}x the float64 history floor "
        f"({floor:,.0f} MB); peak {peak:,.0f} MB")
    return figures
