"""Learning works: PPO finds a planted, learnable edge and the arena promotes it; a random or
deliberately worse candidate is rejected.

The market is the seeded simulator with an edge planted into its prices: at random times a
coin gets a 10-minute ramp of +-1.5% (minute by minute, inside the bars, so a taker BUY at the
next open rides it), announced by an observation column (`extra_0`, via `with_extra`) that
counts the ramp down: +3 -> +0.3 before an up-ramp, -3 -> -0.3 before a down-ramp, 0 otherwise.
The column at row t is known at t (it announces, it does not peek), so buying on +, selling on
- earns ~1.3% per ramp after 2 x 10 bps fees: an edge a policy can learn, the fill model and
fees untouched. Features are recomputed from the planted prices (the live feature functions),
so nothing the agent sees contradicts the bars it trades.

Why the rewards are scaled in training (`EnvConfig.reward_scale`, x1000): with the env's
default 5% position cap a ramp is worth ~1e-4 log equity per step, which the value head's
initial error (~1e-2) swamps; unscaled, 40 PPO updates learned nothing (measured). The arena
reads equity, not rewards, so the scale changes what is learnable per update, not what is
promoted.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from model import libm
from rl import arena
from rl.env import TRAINING_REWARD_SCALE, BatchedEnv, EnvConfig
from rl.episodes import MarketData
from rl.networks import Player
from rl.ppo import PPOConfig
from rl.selfplay import SelfPlayConfig, run_generation
from strategies.features_batch import MinuteGrid, features_from_history

RAMP_MINUTES = 10
RAMP_DRIFT = 0.015  # total log move of one ramp; fees are 2 x 10 bps per round trip
SIGNAL_SCALE = 3.0  # the announcing column's size, comparable to the live feature columns
MEAN_GAP_MINUTES = 30
ENV_CONFIG = EnvConfig(horizon_minutes=120, warmup_minutes=240)
TRAIN_SEED = 0


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def planted_market(seed: int = 7, coins: int = 4, minutes: int = 8000) -> MarketData:
    """The simulator's market with announced ramps planted into its prices (see module doc).

    Ramp directions lean back towards the coin's unplanted level, so the planted moves do not
    add a ±10%/day random walk that would push the long-window features to their clip."""
    base = MarketData.from_generator(seed, coins, minutes, warmup_minutes=300)
    rng = np.random.default_rng(seed)
    length, n = base.close.shape
    signal, step = np.zeros((length, n)), np.zeros((length, n))
    for s in range(n):
        t, level = int(rng.integers(5, MEAN_GAP_MINUTES)), 0.0
        while t + RAMP_MINUTES + 1 < length:
            sign = 1.0 if rng.random() < 0.5 - 0.4 * libm.tanh(level / (2 * RAMP_DRIFT)) else -1.0
            level += sign * RAMP_DRIFT
            signal[t:t + RAMP_MINUTES, s] = (SIGNAL_SCALE * sign
                                             * np.arange(RAMP_MINUTES, 0, -1) / RAMP_MINUTES)
            step[t + 1:t + 1 + RAMP_MINUTES, s] = sign * RAMP_DRIFT / RAMP_MINUTES
            t += RAMP_MINUTES + int(rng.integers(MEAN_GAP_MINUTES // 2, MEAN_GAP_MINUTES * 3 // 2))
    after = np.cumsum(step, axis=0)  # log shift at each bar's close
    before = np.vstack([np.zeros((1, n)), after[:-1]])  # ... and at its open

    def snap(price: np.ndarray) -> np.ndarray:
        return np.round(price / base.tick) * base.tick

    open_, close = snap(base.open * libm.exp(before)), snap(base.close * libm.exp(after))
    high = np.maximum.reduce([snap(base.high * libm.exp(after)), open_, close])
    low = np.minimum.reduce([snap(base.low * libm.exp(before)), open_, close])
    grid = MinuteGrid(symbols=base.symbols, start_ms=int(base.open_ms[0]), open=open_,
                      high=high, low=low, close=close, quote_volume=base.volume * close)
    planted = dataclasses.replace(base, open=open_, high=high, low=low, close=close,
                                  features=features_from_history(grid))
    return planted.with_extra(signal)


def signal_of(view: arena.EpisodeView) -> np.ndarray:
    """The planted column at each env's decision minute."""
    assert view.env.data.extra is not None
    return view.env.data.extra[view.minute, view.symbols, 0]


def follows_signal(obs: np.ndarray, view: arena.EpisodeView) -> np.ndarray:
    """The edge by hand: taker BUY while an up-ramp is announced, taker SELL otherwise."""
    names = view.env.action_names
    return np.where(signal_of(view) > 0, names.index("BUY+1"), names.index("SELL+1"))


def against_signal(obs: np.ndarray, view: arena.EpisodeView) -> np.ndarray:
    """Deliberately worse: buys into announced down-ramps, sells into up-ramps."""
    names = view.env.action_names
    return np.where(signal_of(view) < 0, names.index("BUY+1"), names.index("SELL+1"))


@pytest.fixture(scope="module")
def market() -> tuple[MarketData, MarketData]:
    """(train, validation): disjoint, with an embargo of two episode horizons between them.
    The 30-day feature embargo does not fit 8000 minutes; the planted edge lives in single
    rows, so no validation row's signal or ramp is visible from a training episode."""
    return planted_market().split(train_fraction=0.6, embargo_minutes=240)


def random_player(data: MarketData, seed: int) -> Player:
    """A freshly initialized network: the loop's v0000 best_player."""
    probe = BatchedEnv(data, 1, ENV_CONFIG, 0)
    return Player.create(probe.observation_size, probe.n_actions, hidden=(64, 64),
                         feature_names=probe.observation_names, seed=seed)


def small_config() -> SelfPlayConfig:
    """~160k env steps: 40 PPO updates of 128 envs x 32 steps (about 5 s on one core)."""
    return SelfPlayConfig(n_envs=128, memory_steps=32, memory_shards=2, updates=40,
                          rollout_steps=32,
                          env_config=dataclasses.replace(ENV_CONFIG,
                                                         reward_scale=TRAINING_REWARD_SCALE),
                          ppo=PPOConfig(epochs=4, minibatch_size=1024, learning_rate=3e-3,
                                        gamma=0.9))


@pytest.fixture(scope="module")
def trained(market, tmp_path_factory) -> tuple[Player, Player]:
    """(best = random init, current = one generation of self-play PPO on the train split)."""
    torch.set_num_threads(1)
    train, _ = market
    best = random_player(train, seed=TRAIN_SEED)
    workdir: Path = tmp_path_factory.mktemp("generation")
    current = run_generation(best, train, small_config(), workdir, seed=TRAIN_SEED)
    return best, current


@pytest.mark.slow
def test_the_planted_edge_is_real_and_beats_fees(market) -> None:
    """The hand-written edge policy passes every gate against a random net: the edge is
    there after fees on the validation split, so what PPO must do is find it."""
    _, validation = market
    report = arena.run_arena(follows_signal, random_player(validation, 1), validation, 200,
                             config=ENV_CONFIG)
    assert report.promote, report.failed
    players = report.info["players"]
    assert players["candidate"]["mean_log_growth"] > 5e-4  # ~0.09% per 2 h at a 5% cap
    assert players["candidate"]["mean_fees"] > 0  # it pays fees and still wins


@pytest.mark.slow
def test_ppo_learns_to_act_on_the_planted_signal(market, trained) -> None:
    train, _ = market
    best, current = trained
    env = BatchedEnv(train, 2048, ENV_CONFIG, seed=11)
    obs = env.reset()
    signal = obs[:, env.observation_names.index("extra_0")]
    names = env.action_names
    buys = [names.index(f"BUY{k:+d}") for k in ENV_CONFIG.offsets_ticks]
    p_buy_up = current.probabilities(obs[signal > 0])[:, buys].sum(1).mean()
    p_buy_down = current.probabilities(obs[signal < 0])[:, buys].sum(1).mean()
    before = best.probabilities(obs[signal > 0])[:, buys].sum(1).mean()
    assert p_buy_up > 0.5 and p_buy_down < 0.05, (p_buy_up, p_buy_down)
    assert p_buy_up > before + 0.15


@pytest.mark.slow
def test_the_arena_promotes_the_trained_candidate(market, trained) -> None:
    _, validation = market
    best, current = trained
    report = arena.run_arena(current, best, validation, 200, config=ENV_CONFIG, seed=0)
    assert report.promote, (report.failed, report.info["players"])
    players = report.info["players"]
    assert players["candidate"]["mean_log_growth"] > 0
    for name in arena.BASELINES:
        assert players["candidate"]["mean_score"] > players[name]["mean_score"], name


@pytest.mark.slow
def test_the_untrained_net_is_rejected_against_the_trained_one(market, trained) -> None:
    _, validation = market
    best, current = trained
    report = arena.run_arena(best, current, validation, 200, config=ENV_CONFIG, seed=0)
    assert not report.promote
    assert {"sprt", "bootstrap"} <= set(report.failed)


@pytest.mark.slow
def test_a_deliberately_worse_candidate_is_rejected(market) -> None:
    _, validation = market
    report = arena.run_arena(against_signal, random_player(validation, 1), validation, 200,
                             config=ENV_CONFIG, seed=0)
    assert not report.promote
    assert {"sprt", "bootstrap", "baseline:flat"} <= set(report.failed)


@pytest.mark.slow
def test_another_random_net_is_not_promoted(market) -> None:
    _, validation = market
    report = arena.run_arena(random_player(validation, 2), random_player(validation, 1),
                             validation, 200, config=ENV_CONFIG, seed=0)
    assert not report.promote
