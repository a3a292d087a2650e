"""PPO: GAE by hand, the clipped loss, and learning a planted edge on a tiny batched env."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from rl.networks import Player
from rl.ppo import (
    PPOConfig,
    collect_rollout,
    compute_gae,
    make_batch,
    make_optimizer,
    ppo_loss,
    ppo_update,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class PlantedEdgeEnv:
    """Batched toy market: noise observations, episodes of `horizon` steps; action
    `edge_action` earns +0.05 on average, every other action -0.02 (reward noise 0.1).
    Same API as rl.env.BatchedEnv (reset, step with auto-reset, sizes)."""

    def __init__(self, data: object, n_envs: int, config: object = None, seed: int = 0,
                 *, obs_size: int = 6, n_actions: int = 4, edge_action: int = 2,
                 horizon: int = 8, step_delay_s: float = 0.0):
        self.n_envs, self.observation_size, self.n_actions = n_envs, obs_size, n_actions
        self.edge_action, self.horizon, self.step_delay_s = edge_action, horizon, step_delay_s
        self.rng = np.random.default_rng(seed)
        self.t = np.zeros(n_envs, np.int64)

    def _observe(self) -> np.ndarray:
        return self.rng.standard_normal((self.n_envs, self.observation_size)).astype(np.float32)

    def reset(self, starts=None, symbols=None) -> np.ndarray:
        self.t[:] = 0
        return self._observe()

    def step(self, actions: np.ndarray):
        if self.step_delay_s:
            time.sleep(self.step_delay_s)
        mean = np.where(actions == self.edge_action, 0.05, -0.02)
        reward = (mean + 0.1 * self.rng.standard_normal(self.n_envs)).astype(np.float32)
        self.t += 1
        done = self.t >= self.horizon
        self.t[done] = 0
        return self._observe(), reward, done, {}


def planted_edge_env(data, n_envs, config, seed):
    """Factory with the rl.selfplay EnvFactory signature (module-level: picklable)."""
    return PlantedEdgeEnv(data, n_envs, config, seed)


def test_gae_matches_a_hand_computed_three_step_episode_that_ends():
    # gamma 0.9, lambda 0.8 -> gamma*lambda = 0.72; the episode ends at t=2 so the
    # bootstrap value 9.0 must be ignored.
    # delta2 = 2 - 0.3 = 1.7                  A2 = 1.7
    # delta1 = 0 + 0.9*0.3 - 0.4 = -0.13      A1 = -0.13 + 0.72*1.7   = 1.094
    # delta0 = 1 + 0.9*0.4 - 0.5 = 0.86       A0 = 0.86  + 0.72*1.094 = 1.64768
    rewards = np.array([[1.0], [0.0], [2.0]], np.float32)
    values = np.array([[0.5], [0.4], [0.3]], np.float32)
    dones = np.array([[False], [False], [True]])
    advantages, returns = compute_gae(rewards, values, dones, np.array([9.0], np.float32),
                                      gamma=0.9, gae_lambda=0.8)
    np.testing.assert_allclose(advantages[:, 0], [1.64768, 1.094, 1.7], rtol=1e-5)
    np.testing.assert_allclose(returns[:, 0], [2.14768, 1.494, 2.0], rtol=1e-5)


def test_gae_bootstraps_an_unfinished_episode_and_stops_at_a_mid_rollout_done():
    rewards = np.array([[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]], np.float32)
    values = np.array([[0.5, 0.5], [0.4, 0.4], [0.3, 0.3]], np.float32)
    dones = np.array([[False, False], [False, True], [False, False]])
    advantages, _ = compute_gae(rewards, values, dones, np.array([1.0, 1.0], np.float32),
                                gamma=0.9, gae_lambda=0.8)
    # env 0: delta2 = 2 + 0.9 - 0.3 = 2.6; A1 = -0.13 + 0.72*2.6; A0 = 0.86 + 0.72*A1
    np.testing.assert_allclose(advantages[:, 0], [2.11424, 1.742, 2.6], rtol=1e-5)
    # env 1: the episode ends at t=1, so t=1 sees only its reward and t=0 only t=1's advantage
    np.testing.assert_allclose(advantages[:, 1], [0.572, -0.4, 2.6], rtol=1e-5)


def test_clipped_objective_ignores_samples_already_pushed_past_the_clip():
    player = Player.create(3, 2, hidden=(8,))
    obs = torch.zeros(1, 3)
    logp = torch.log_softmax(player.net(obs)[0], -1)[0, 0].detach()
    config = PPOConfig(entropy_coef=0.0, value_coef=0.0, normalize_advantages=False)
    # behaviour log-prob far lower than current -> ratio >> 1 + clip with a positive advantage
    loss, _ = ppo_loss(player.net, obs, torch.tensor([0]), logp - 1.0, torch.tensor([1.0]),
                       torch.tensor([0.0]), config)
    loss.backward()
    assert all(p.grad is None or torch.all(p.grad == 0) for p in player.net.parameters())


def test_ppo_update_lowers_the_loss_on_its_batch():
    env = PlantedEdgeEnv(None, 64, seed=1)
    player = Player.create(6, 4, hidden=(32, 32), seed=1)
    generator = torch.Generator().manual_seed(1)
    memory, _ = collect_rollout(env, player, env.reset(), 16, generator)
    config = PPOConfig(epochs=8, minibatch_size=256, learning_rate=3e-3)
    batch = make_batch([memory], config)

    def loss_now() -> float:
        with torch.no_grad():
            return float(ppo_loss(player.net, batch.observations, batch.actions,
                                  batch.old_log_probs, batch.advantages, batch.returns,
                                  config)[0])

    before = loss_now()
    ppo_update(player.net, make_optimizer(player.net, config), batch, config, generator)
    assert loss_now() < before


@pytest.mark.timeout(60)
def test_ppo_finds_the_planted_edge():
    """Given an action with positive expected reward among losing ones, when PPO trains on
    on-policy rollouts, then that action's probability rises above 0.8."""
    env = PlantedEdgeEnv(None, 128, seed=2)
    player = Player.create(6, 4, hidden=(32, 32), seed=2)
    config = PPOConfig(epochs=4, minibatch_size=512, learning_rate=3e-3, gamma=0.9)
    optimizer = make_optimizer(player.net, config)
    generator = torch.Generator().manual_seed(2)
    obs = env.reset()
    probe = PlantedEdgeEnv(None, 512, seed=99).reset()
    start = player.probabilities(probe)[:, env.edge_action].mean()
    for _ in range(30):
        memory, obs = collect_rollout(env, player, obs, 16, generator)
        ppo_update(player.net, optimizer, make_batch([memory], config), config, generator)
        if player.probabilities(probe)[:, env.edge_action].mean() > 0.9:
            break
    final = player.probabilities(probe)[:, env.edge_action].mean()
    assert start < 0.3 and final > 0.8, (start, final)
