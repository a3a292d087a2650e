"""Proximal policy optimisation over batched rollouts: GAE(λ), clipped objective, pure functions.

Why PPO: the clipped ratio makes it safe to train on a behaviour policy's memory (the
best_player's self-play) as well as on-policy rollouts — once the current policy moves
more than `clip` away from the behaviour policy on a sample, that sample stops pushing.

Conventions: rollouts are time-major [T, n_envs]; `dones[t]` ends the episode with
reward t (the env auto-resets), so no value is bootstrapped across it. Horizon ends are
treated as terminal too (the episode really stops there; there is no "later" to bootstrap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from rl.memory import RolloutBuffer, RolloutMemory
from rl.networks import Player, PolicyValueNet


@dataclass(frozen=True, slots=True)
class PPOConfig:
    """PPO hyper-parameters (defaults: the common CleanRL/SB3 settings)."""

    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    epochs: int = 4
    minibatch_size: int = 2048
    learning_rate: float = 3e-4
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_advantages: bool = True


class VecEnv(Protocol):
    """What PPO needs of an environment (rl.env.BatchedEnv fits it)."""

    observation_size: int
    n_actions: int

    def reset(self) -> np.ndarray: ...

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]: ...


def compute_gae(
    rewards: np.ndarray,
    values: np.ndarray,
    dones: np.ndarray,
    last_values: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(advantages, returns) [T, N] by generalised advantage estimation.

    delta_t = r_t + gamma * V_{t+1} * (1 - done_t) - V_t
    A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}
    returns = A + V (the value target).
    """
    n_steps = rewards.shape[0]
    advantages = np.zeros_like(rewards, dtype=np.float32)
    running = np.zeros(rewards.shape[1:], dtype=np.float32)
    next_values = np.asarray(last_values, dtype=np.float32)
    for t in reversed(range(n_steps)):
        not_done = 1.0 - dones[t].astype(np.float32)
        delta = rewards[t] + gamma * next_values * not_done - values[t]
        running = delta + gamma * gae_lambda * not_done * running
        advantages[t] = running
        next_values = values[t]
    return advantages, (advantages + values).astype(np.float32)


@dataclass(frozen=True)
class TrainingBatch:
    """Flattened samples ready for minibatching (all torch, float32 except actions)."""

    observations: torch.Tensor
    actions: torch.Tensor
    old_log_probs: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor

    def __len__(self) -> int:
        return int(self.actions.shape[0])


def make_batch(memories: list[RolloutMemory], config: PPOConfig) -> TrainingBatch:
    """GAE per memory, then flatten and join (memories may come from different policies)."""
    parts = []
    for memory in memories:
        advantages, returns = compute_gae(memory.rewards, memory.values, memory.dones,
                                          memory.last_values, config.gamma, config.gae_lambda)
        parts.append((memory.observations.reshape(-1, memory.observations.shape[-1]),
                      memory.actions.reshape(-1), memory.log_probs.reshape(-1),
                      advantages.reshape(-1), returns.reshape(-1)))
    joined = [torch.from_numpy(np.concatenate(column)) for column in zip(*parts)]
    return TrainingBatch(*joined)


def ppo_loss(
    net: PolicyValueNet,
    observations: torch.Tensor,
    actions: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    config: PPOConfig,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped surrogate + value_coef * value MSE - entropy_coef * entropy, and its parts."""
    if config.normalize_advantages and advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    logits, values = net(observations)
    log_probs_all = torch.log_softmax(logits, dim=-1)
    log_probs = log_probs_all.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    ratio = torch.exp(log_probs - old_log_probs)
    clipped = torch.clamp(ratio, 1.0 - config.clip, 1.0 + config.clip)
    policy_loss = -torch.min(ratio * advantages, clipped * advantages).mean()
    value_loss = 0.5 * (values - returns).pow(2).mean()
    entropy = -(log_probs_all.exp() * log_probs_all).sum(-1).mean()
    loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy
    with torch.no_grad():
        clip_fraction = ((ratio - 1.0).abs() > config.clip).float().mean()
        approx_kl = ((ratio - 1.0) - torch.log(ratio)).mean()
    stats = {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(),
             "entropy": entropy.item(), "clip_fraction": clip_fraction.item(),
             "approx_kl": approx_kl.item()}
    return loss, stats


def make_optimizer(net: nn.Module, config: PPOConfig) -> torch.optim.Optimizer:
    """Adam with PPO's customary eps."""
    return torch.optim.Adam(net.parameters(), lr=config.learning_rate, eps=1e-5)


def ppo_update(
    net: PolicyValueNet,
    optimizer: torch.optim.Optimizer,
    batch: TrainingBatch,
    config: PPOConfig,
    generator: torch.Generator,
) -> dict[str, float]:
    """`epochs` passes of shuffled minibatches; returns the mean of each loss part."""
    net.train()
    totals: dict[str, float] = {}
    n_minibatches = 0
    for _ in range(config.epochs):
        order = torch.randperm(len(batch), generator=generator)
        for start in range(0, len(batch), config.minibatch_size):
            index = order[start:start + config.minibatch_size]
            loss, stats = ppo_loss(net, batch.observations[index], batch.actions[index],
                                   batch.old_log_probs[index], batch.advantages[index],
                                   batch.returns[index], config)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), config.max_grad_norm)
            optimizer.step()
            for key, value in stats.items():
                totals[key] = totals.get(key, 0.0) + value
            n_minibatches += 1
    net.eval()
    return {key: value / max(n_minibatches, 1) for key, value in totals.items()}


def collect_rollout(
    env: VecEnv,
    player: Player,
    obs: np.ndarray,
    n_steps: int,
    generator: torch.Generator,
    greedy: bool = False,
) -> tuple[RolloutMemory, np.ndarray]:
    """Play `n_steps` batched steps from `obs`; returns the memory and the next observation
    (so consecutive rollouts continue the same episodes instead of resetting them)."""
    buffer = RolloutBuffer(n_steps, obs.shape[0], obs.shape[1])
    for _ in range(n_steps):
        actions, log_probs, values = player.act(obs, greedy=greedy, generator=generator)
        next_obs, rewards, dones, _info = env.step(actions)
        buffer.add(obs, actions, log_probs, rewards, values, dones)
        obs = np.asarray(next_obs, dtype=np.float32)
    _, _, last_values = player.act(obs, greedy=True, generator=generator)
    return buffer.finish(last_values), obs
