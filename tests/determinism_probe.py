"""Digests of every numeric path whose result must not depend on the CPU (ADR-045).

`python -m tests.determinism_probe` prints one JSON object: a sha256 per path, over the raw
bytes of its float results (not rounded, not printed), and the ledger digests of two short
replay backtests. tests/integration/test_cpu_independence.py runs it twice, with numpy's
SIMD dispatch on and off (`NPY_DISABLE_CPU_FEATURES`), and requires equal digests.

Everything is generated from fixed seeds with `model.libm`, so the inputs are the same bits
on every machine too; a temporary folder holds the replay market and ledgers.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import numpy as np


def _sha(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def fill_model() -> str:
    """The fill kernel on a random batch that walks deep books (the AVX-512 case)."""
    from model import fills
    from model.fills import FillParams
    from tests.unit.test_fill_kernel import _random_market, _random_orders

    params = FillParams(book_levels=12, bar_book_share=0.01)
    rng = np.random.default_rng(0)
    market = _random_market(rng, 400, params)
    result = fills.match(_random_orders(rng, market, 3000), market, params)
    return _sha(result.amount, result.notional, result.fee, result.remaining, result.queue_ahead)


def simulator() -> str:
    """The embedded exchange's generated bars and ticks."""
    from exchange.sim.generator import GeneratorSource

    source = GeneratorSource(seed=3, coins=8, history_minutes=600, start_ms=1_700_000_040_000)
    minute = source.advance()
    rows = slice(0, source.store.rows)
    bars = [source.store.column(f, rows) for f in ("open", "high", "low", "close", "volume")]
    return _sha(*bars, minute.ticks.last, minute.ticks.bid, minute.ticks.ask)


def features_and_ranking() -> str:
    """Batch features of the simulated market and the barrier probability behind ranking."""
    from rl.episodes import MarketData
    from strategies.barrier import probability_up_first

    data = MarketData.from_generator(5, 6, 2_000, warmup_minutes=60)
    rng = np.random.default_rng(1)
    probability = probability_up_first(0.01, 0.01, rng.normal(0, 1e-4, 500),
                                       rng.uniform(1e-4, 5e-3, 500), 60.0)
    return _sha(data.features, probability)


def rl_environment() -> str:
    """A batched RL episode on random actions: rewards, equity and observations."""
    from rl.env import ACTIONS, BatchedEnv, EnvConfig
    from rl.episodes import MarketData

    data = MarketData.from_generator(5, 4, 600, warmup_minutes=60)
    env = BatchedEnv(data, 64, EnvConfig(horizon_minutes=30, warmup_minutes=60), seed=1)
    observations = [env.reset()]
    rewards = []
    rng = np.random.default_rng(2)
    for _ in range(30):
        obs, reward, _, _ = env.step(rng.integers(0, len(ACTIONS), 64))
        observations.append(obs)
        rewards.append(reward)
    return _sha(*observations, *rewards)


def promotion_statistics() -> str:
    """The arena gate's moments, deflated Sharpe and CVaR on a fixed sample."""
    from rl import gates

    returns = np.random.default_rng(4).standard_t(4, 400) * 0.01
    sharpe, skew, kurtosis, n = gates.sharpe_moments(returns)
    deflated = gates.deflated_sharpe_ratio(sharpe, 12, n, skew, kurtosis, 0.02)
    return _sha(np.array([sharpe, skew, kurtosis, deflated, gates.cvar(returns)]))


def backtests(folder: Path) -> dict[str, str]:
    """Ledger digests of the baseline and SMA policies replayed on a generated market."""
    from bot.config import load_config
    from bot.research.backtest import run_backtest
    from tests.replay_data import BASELINE_TRADES, write_random_walk_market

    market = write_random_walk_market(folder / "market", minutes=1_800)
    config = load_config(None, environ=BASELINE_TRADES)
    return {f"backtest_{policy}": run_backtest(
        config, market, folder / f"{policy}.sqlite", policy=policy, quote_asset="USDT",
        balance=Decimal("10000")).ledger_digest for policy in ("baseline", "sma")}


def main() -> None:
    from tests.cpu_dispatch import active_groups

    with tempfile.TemporaryDirectory() as folder:
        figures = {"numpy_dispatch": " ".join(active_groups()) or "baseline",
                   "fill_model": fill_model(), "simulator": simulator(),
                   "features_and_ranking": features_and_ranking(),
                   "rl_environment": rl_environment(),
                   "promotion_statistics": promotion_statistics(),
                   **backtests(Path(folder))}
    json.dump(figures, sys.stdout)
    print()


if __name__ == "__main__":
    main()
