"""Portfolio-network inference for `python -m bench rl` (kept apart: bench/rl.py is near the
size where a module stops fitting on a few screens).

What it measures: `rl.portfolio_network.PortfolioPlayer.act`, greedy, on one env of
`COINS` coins with `COIN_FEATURES` columns each and `PORTFOLIO_FEATURES` of portfolio state
(sizes of the portfolio env's observation: live features + cross-sectional ranks + the
coin's own position/order state; cash, exposure, drawdown, regime, time left), on ONE torch
thread, p50/p99 over `REPEATS` calls. Twice: every coin live (a full universe), and with
`PADDED_SHARE` of the slots masked (coins without data this step), which runs the masking
path. Baseline, call for call in the same loop (so a busy spell of the shared machine hits
all alike): the flat per-symbol MLP `Player.act` on `COINS` rows of the live layout, the
network the daemon serves today; the ratio says what equivariance costs over it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from bench.common import show

# The portfolio env's own widths: live features and their cross-sectional z-scores plus the
# coin's state; the portfolio state (rl/portfolio_env.py).
COINS, COIN_FEATURES, PORTFOLIO_FEATURES = 500, 92, 9
PADDED_SHARE = 0.1
REPEATS, WARMUP = 1000, 30
TARGET_P99_MS = 2.0


def _alternating_ms(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, np.ndarray]:
    """Wall milliseconds per call of each, the calls taking turns `repeats` times."""
    for call in calls.values():
        for _ in range(WARMUP):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - started) * 1000.0)
    return {name: np.asarray(found) for name, found in times.items()}


def portfolio_inference(seed: int = 7, repeats: int = REPEATS) -> dict[str, Any]:
    """p50/p99 ms of the portfolio net (all live, and padded) and of the flat baseline."""
    from rl.live_policy import OBSERVATION_NAMES
    from rl.networks import Player
    from rl.portfolio_network import PortfolioPlayer
    from rl.spaces import action_names

    rng = np.random.default_rng(seed)
    portfolio = PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES, seed=seed)
    coins = rng.standard_normal((1, COINS, COIN_FEATURES)).astype(np.float32)
    state = rng.standard_normal((1, PORTFOLIO_FEATURES)).astype(np.float32)
    live = np.ones((1, COINS), bool)
    padded = live.copy()
    padded[0, rng.permutation(COINS)[: int(COINS * PADDED_SHARE)]] = False
    flat = Player.create(len(OBSERVATION_NAMES), len(action_names()),
                         feature_names=OBSERVATION_NAMES, seed=seed)
    rows = rng.standard_normal((COINS, len(OBSERVATION_NAMES))).astype(np.float32)
    calls = {"portfolio": lambda: portfolio.act(coins, state, live, greedy=True),
             "portfolio_padded": lambda: portfolio.act(coins, state, padded, greedy=True),
             "flat": lambda: flat.act(rows, greedy=True)}
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        times = _alternating_ms(calls, repeats)
    finally:
        torch.set_num_threads(previous_threads)
    figures: dict[str, Any] = {
        "coins": COINS, "coin_features": COIN_FEATURES,
        "portfolio_features": PORTFOLIO_FEATURES, "padded_share": PADDED_SHARE,
        "hidden": list(portfolio.spec.hidden), "flat_obs_size": len(OBSERVATION_NAMES),
        "torch_threads": 1, "calls": repeats}
    for name, found in times.items():
        figures[f"{name}_p50_ms"] = round(float(np.percentile(found, 50)), 3)
        figures[f"{name}_p99_ms"] = round(float(np.percentile(found, 99)), 3)
    figures["portfolio_vs_flat_p50"] = round(
        figures["portfolio_p50_ms"] / figures["flat_p50_ms"], 2)
    figures["met"] = max(figures["portfolio_p99_ms"],
                         figures["portfolio_padded_p99_ms"]) <= TARGET_P99_MS
    return figures


def show_portfolio_inference(p: dict[str, Any]) -> None:
    """The table of `portfolio_inference`."""
    status = "[green]met[/green]" if p["met"] else "[red]NOT met[/red]"
    show(f"Portfolio network inference (1 env x {p['coins']} coins x {p['coin_features']} "
         f"features, {p['portfolio_features']} portfolio; 1 torch thread; {p['calls']} calls "
         f"each, alternating)",
         ["call", "p50 ms", "p99 ms", "vs flat p50", "target p99 <= 2 ms, both"],
         [["PortfolioPlayer.act, all live", f"{p['portfolio_p50_ms']:.3f}",
           f"{p['portfolio_p99_ms']:.3f}", f"{p['portfolio_vs_flat_p50']:.2f}x",
           status],
          [f"PortfolioPlayer.act, {p['padded_share']:.0%} padded",
           f"{p['portfolio_padded_p50_ms']:.3f}", f"{p['portfolio_padded_p99_ms']:.3f}",
           f"{p['portfolio_padded_p50_ms'] / p['flat_p50_ms']:.2f}x", ""],
          [f"flat Player.act, {p['coins']} rows (baseline)", f"{p['flat_p50_ms']:.3f}",
           f"{p['flat_p99_ms']:.3f}", "1.00x", ""]])
