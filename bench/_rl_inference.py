"""The live policy's inference per decision step, for `python -m bench rl` (section 4).

`Player.act`, greedy, as `RLPolicy.decide` runs it, on `INFERENCE_SYMBOLS` observations of
the live layout in one call (p50/p99), beside one call per symbol, and its table. Kept apart
from bench/rl.py (the env and training throughput rows): it measures the served network, not
the training, and needs nothing of the throughput runs but the seed; the portfolio network's
counterpart is bench/_rl_portfolio.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from bench.common import show

TARGET_INFERENCE_MS = 2.0  # batched CPU inference for 500 symbols per decision step
INFERENCE_SYMBOLS, INFERENCE_REPEATS = 500, 500


def policy_inference(seed: int) -> dict[str, Any]:
    """The live policy's forward pass (`Player.act`, greedy, as `RLPolicy.decide` runs it) on
    `INFERENCE_SYMBOLS` observations of the live layout at once, p50/p99 over many calls;
    baseline: the same network called once per symbol, the way a per-coin loop would."""
    from rl.live_policy import OBSERVATION_NAMES
    from rl.networks import Player
    from rl.spaces import action_names

    player = Player.create(len(OBSERVATION_NAMES), len(action_names()),
                           feature_names=OBSERVATION_NAMES, seed=seed)
    obs = np.random.default_rng(seed).standard_normal(
        (INFERENCE_SYMBOLS, len(OBSERVATION_NAMES))).astype(np.float32)

    def timed(call: Callable[[], Any], repeats: int) -> np.ndarray:
        for _ in range(10):
            call()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000.0)
        return np.asarray(times)

    with torch.inference_mode():
        batched = timed(lambda: player.act(obs, greedy=True), INFERENCE_REPEATS)
        one_by_one = timed(lambda: [player.act(obs[i: i + 1], greedy=True)
                                    for i in range(INFERENCE_SYMBOLS)], 10)
    return {"symbols": INFERENCE_SYMBOLS, "hidden": list(player.spec.hidden),
            "obs_size": len(OBSERVATION_NAMES),
            "batched_p50_ms": round(float(np.percentile(batched, 50)), 3),
            "batched_p99_ms": round(float(np.percentile(batched, 99)), 3),
            "one_by_one_p50_ms": round(float(np.percentile(one_by_one, 50)), 3)}


def show_inference(inference: dict[str, Any], threads: int, ok: bool) -> None:
    """The table of `policy_inference` run on `threads` torch threads; `ok`: whether the
    batched p99 met TARGET_INFERENCE_MS."""
    status = "[green]met[/green]" if ok else "[red]NOT met[/red]"
    show(f"Policy inference per decision step ({INFERENCE_SYMBOLS} symbols, torch threads "
         f"{threads}, {INFERENCE_REPEATS} calls)",
         ["call", "p50 ms", "p99 ms", "vs one-by-one", "target p99 <= 2 ms"],
         [["batched Player.act", f"{inference['batched_p50_ms']:.3f}",
           f"{inference['batched_p99_ms']:.3f}",
           f"{inference['one_by_one_p50_ms'] / inference['batched_p50_ms']:.0f}x faster",
           status],
          ["one call per symbol (baseline)", f"{inference['one_by_one_p50_ms']:.1f}", "-",
           "1x", ""]])
