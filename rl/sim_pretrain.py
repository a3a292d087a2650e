"""Pre-training the first best_player on randomized simulated markets (issue 16 item 5).

Without pre-training, self-play starts from a random network (`v0000`) and every candidate
must learn the market from the training days alone. Here `v0000` is instead trained first on
`markets` simulated markets, each drawn around a calibrated fit (`exchange/sim/randomize.py`:
volatility, clustering, tails, jumps, bounce, quiet minutes, volume, each moved by a
log-normal factor of sigma `scale`), with the same env, costs and PPO generations as on real
data. Real self-play then continues from it, and the arena still decides every promotion on
real, held-out days, so a pre-trained start can be kept only by candidates that beat it.

What it may read: the parameter file (fitted on the training folder, or any other file that
predates the test period) and the training data's shape. Nothing of the test period.

Each market's generator seed is `MARKET_SEED_STRIDE x seed + k + 1` and its parameters the
k-th draw of a generator seeded with `seed`: one seed gives one pre-trained network.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exchange.sim.market_params import MarketParams
from exchange.sim.randomize import randomized_markets
from rl.env import BatchedEnv, EnvConfig
from rl.episodes import MarketData
from rl.networks import Player
from rl.registry import ModelRegistry
from rl.selfplay import SelfPlayConfig, plain_config, run_generation

Progress = Callable[[str, int, int], None]
MARKET_SEED_STRIDE = 1000
#: Offset of the pre-training generations' seeds, apart from the real generations' seeds.
PRETRAIN_SEED_OFFSET = 100_000


@dataclass(frozen=True)
class SimPretraining:
    """How the first best_player is pre-trained: `generations` PPO generations (the real
    loop's sizes) on `markets` simulated markets of `coins` coins and `minutes` of 1m bars
    each, drawn around `params` with log-normal sigma `scale` (0: the fit itself)."""

    params: MarketParams
    markets: int = 4
    coins: int = 10
    minutes: int = 10 * 1440
    scale: float = 0.25
    generations: int = 2

    def __post_init__(self) -> None:
        if self.markets < 1 or self.coins < 1 or self.generations < 1:
            raise ValueError("pre-training needs markets, coins and generations >= 1, got "
                             f"{self.markets}, {self.coins}, {self.generations}")
        if self.params.bar_minutes != 1:
            raise ValueError(f"pre-training simulates 1m bars, but the parameters were fitted on "
                             f"{self.params.bar_minutes:g}-minute bars ({self.params.source}); "
                             "calibrate on a folder of 1m bars")
        if not 0 <= self.scale < 5:
            raise ValueError(f"pre-training scale must be in [0, 5), got {self.scale}")
        if self.minutes < 2 * 1440:
            raise ValueError(f"pre-training markets need >= 2 days of minutes (one is warm-up), "
                             f"got {self.minutes}")

    def describe(self) -> dict[str, Any]:
        """What the registry and the walk-forward report record about the pre-training."""
        return {"markets": self.markets, "coins": self.coins, "minutes": self.minutes,
                "scale": self.scale, "generations": self.generations,
                "params_source": self.params.source}


def pretraining_from(params_name: str, *, markets: int, coins: int, days: float, scale: float,
                     generations: int, option: str = "--pretrain-sim") -> SimPretraining:
    """The command-line options as `SimPretraining`: `params_name` is a shipped parameter
    set's name or a file; `ValueError` (a `MarketParamsError` for the parameters) naming
    `option` when they cannot be used."""
    from exchange.sim.shipped_params import load_params

    params = load_params(params_name, option)
    if params is None:
        raise ValueError(f"{option} needs calibrated parameters: a shipped name or a file from "
                         "`entasis sim calibrate`")
    return SimPretraining(params, markets=markets, coins=coins, minutes=round(days * 1440),
                          scale=scale, generations=generations)


def pretraining_market(settings: SimPretraining, seed: int) -> MarketData:
    """The `markets` randomized markets side by side as one universe, each symbol's book at
    the spread its own warm-up bars imply (as on recorded data)."""
    draws = randomized_markets(settings.params, settings.markets, seed, settings.scale)
    return MarketData.stack([
        MarketData.from_generator(MARKET_SEED_STRIDE * seed + k + 1, settings.coins,
                                  settings.minutes, params=params, spread="estimated")
        for k, params in enumerate(draws)])


def install_pretrained(registry: ModelRegistry, workdir: Path, train: MarketData,
                       settings: SimPretraining, config: SelfPlayConfig, env_config: EnvConfig,
                       seed: int, progress: Progress | None = None) -> dict[str, Any] | None:
    """Pre-train and install the network as `v0000`, the first best (what `rl.loop.
    ensure_best` does with a random one); returns what was done, or None when the registry
    already has a best (a resumed run keeps it). The network starts from the same seeded
    init as the random `v0000`, so the two differ by the pre-training alone."""
    if registry.best() is not None:
        return None
    began = time.perf_counter()
    probe = BatchedEnv(train, 1, env_config, seed)
    player = Player.create(probe.observation_size, probe.n_actions,
                           feature_names=probe.observation_names, seed=seed)
    market = pretraining_market(settings, seed)
    (workdir / "models").mkdir(parents=True, exist_ok=True)
    for generation in range(settings.generations):
        player = run_generation(player, market, config, workdir / f"pretrain{generation}",
                                seed + PRETRAIN_SEED_OFFSET + generation, progress=progress)
    path = player.save(workdir / "models" / "v0000.pt")
    if registry.get("v0000") is None:
        registry.register("v0000", path, data_start_ms=int(train.open_ms[0]),
                          data_end_ms=int(train.open_ms[-1]))
    done = {**settings.describe(), "symbols": len(market.symbols),
            "seconds": round(time.perf_counter() - began, 1)}
    registry.promote("v0000", {"note": "initial network: pre-trained on randomized simulated "
                               "markets, no arena", "pretraining": done,
                               "training": {"env_config": plain_config(env_config)}})
    return done


__all__ = ["SimPretraining", "install_pretrained", "pretraining_from", "pretraining_market"]
