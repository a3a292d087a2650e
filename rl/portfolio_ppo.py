"""PPO for the portfolio env: rollouts of whole portfolios, one joint action per env.

The policy factorizes over coins given the shared cross-sectional context
(rl/portfolio_network.py), so an env's action is the tuple of its coins' actions and its
log-probability is their sum; the reward is the portfolio's (log growth after costs), so the
advantage is per env and every coin's choice shares it. That is the standard treatment of a
multi-discrete action (one ratio per sample, clipped as usual). The entropy bonus is the
mean per live coin, so its weight does not grow with the universe.

GAE and the clipped objective are rl/ppo.py's (`compute_gae`, `PPOConfig`); only the
sample layout differs: [T, B, N, C] coin rows, [T, B, P] portfolio rows, [T, B, N] masks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rl.portfolio_env import PortfolioEnv, PortfolioObservation
from rl.portfolio_network import PortfolioPlayer
from rl.ppo import PPOConfig, compute_gae


@dataclass(frozen=True)
class PortfolioMemory:
    """Time-major rollout of `n_envs` portfolios: what best_player's play leaves to train on."""

    coins: np.ndarray  # float32 [T, B, N, C]
    portfolio: np.ndarray  # float32 [T, B, P]
    mask: np.ndarray  # bool [T, B, N]
    actions: np.ndarray  # int8 [T, B, N]
    log_probs: np.ndarray  # float32 [T, B]: joint, under the policy that played
    values: np.ndarray  # float32 [T, B]
    rewards: np.ndarray  # float32 [T, B]
    dones: np.ndarray  # bool [T, B]
    last_values: np.ndarray  # float32 [B]

    @property
    def samples(self) -> int:
        """Portfolio steps held."""
        return int(self.rewards.size)

    def save(self, path: str | Path) -> Path:
        """One uncompressed .npz, written through a temporary name (a kill leaves no half).

        Not compressed: zlib halves a shard (30 coins x 2048 steps: 22.6 -> 12.2 MB) but took
        0.74 s to write it against 0.53 s to play it (measured on this 2-core box); the
        files live in the generation's folder only for resume."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **{f.name: getattr(self, f.name) for f in fields(self)})
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> PortfolioMemory:
        with np.load(Path(path)) as data:
            return cls(**{f.name: data[f.name] for f in fields(cls)})


def collect(env: PortfolioEnv, player: PortfolioPlayer, observation: PortfolioObservation,
            steps: int, generator: torch.Generator
            ) -> tuple[PortfolioMemory, PortfolioObservation]:
    """Play `steps` batched steps from `observation` by sampling `player`; returns the memory
    and the next observation (rollouts continue the same episodes)."""
    columns: dict[str, list[np.ndarray]] = {f.name: [] for f in fields(PortfolioMemory)
                                            if f.name != "last_values"}
    for _ in range(steps):
        actions, log_probs, values = player.act(observation.coins, observation.portfolio,
                                                observation.mask, greedy=False,
                                                generator=generator)
        following, rewards, dones, _ = env.step(actions)
        for name, value in (("coins", observation.coins), ("portfolio", observation.portfolio),
                            ("mask", observation.mask), ("actions", actions.astype(np.int8)),
                            ("log_probs", log_probs), ("values", values),
                            ("rewards", rewards), ("dones", dones)):
            columns[name].append(value)
        observation = following
    _, _, last_values = player.act(observation.coins, observation.portfolio, observation.mask,
                                   greedy=True)
    memory = PortfolioMemory(**{name: np.stack(values) for name, values in columns.items()},
                             last_values=last_values)
    return memory, observation


@dataclass(frozen=True)
class _Batch:
    coins: torch.Tensor
    portfolio: torch.Tensor
    mask: torch.Tensor
    actions: torch.Tensor
    old_log_probs: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor


def _batch(memories: list[PortfolioMemory], config: PPOConfig) -> _Batch:
    """GAE per memory, flattened over time and envs, joined."""
    parts: list[tuple[np.ndarray, ...]] = []
    for memory in memories:
        advantages, returns = compute_gae(memory.rewards, memory.values, memory.dones,
                                          memory.last_values, config.gamma, config.gae_lambda)
        steps = memory.rewards.size
        parts.append((memory.coins.reshape(steps, *memory.coins.shape[2:]),
                      memory.portfolio.reshape(steps, -1), memory.mask.reshape(steps, -1),
                      memory.actions.reshape(steps, -1).astype(np.int64),
                      memory.log_probs.reshape(-1), advantages.reshape(-1).astype(np.float32),
                      returns.reshape(-1).astype(np.float32)))
    joined = [torch.from_numpy(np.ascontiguousarray(np.concatenate(c))) for c in zip(*parts)]
    return _Batch(*joined)


def update(player: PortfolioPlayer, optimizer: torch.optim.Optimizer,
           memories: list[PortfolioMemory], config: PPOConfig,
           generator: torch.Generator) -> dict[str, float]:
    """`config.epochs` passes of shuffled minibatches of portfolio steps; the mean of each
    loss part. Memories may come from different players (best_player's and the current's
    own): the clipped ratio keeps off-policy samples from pushing too far."""
    batch = _batch(memories, config)
    net = player.net
    net.train()
    totals: dict[str, float] = {}
    count = 0
    size = int(batch.actions.shape[0])
    for _ in range(config.epochs):
        order = torch.randperm(size, generator=generator)
        for start in range(0, size, config.minibatch_size):
            index = order[start:start + config.minibatch_size]
            log_probs, entropy, values = player.evaluate(
                batch.coins[index], batch.portfolio[index], batch.mask[index],
                batch.actions[index])
            advantages = batch.advantages[index]
            if config.normalize_advantages and advantages.numel() > 1:
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
            ratio = torch.exp(log_probs - batch.old_log_probs[index])
            clipped = torch.clamp(ratio, 1.0 - config.clip, 1.0 + config.clip)
            policy_loss = -torch.min(ratio * advantages, clipped * advantages).mean()
            value_loss = 0.5 * (values - batch.returns[index]).pow(2).mean()
            live = batch.mask[index].sum(dim=1).clamp(min=1)
            mean_entropy = (entropy / live).mean()
            loss = (policy_loss + config.value_coef * value_loss
                    - config.entropy_coef * mean_entropy)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), config.max_grad_norm)
            optimizer.step()
            with torch.no_grad():
                approx_kl = ((ratio - 1.0) - torch.log(ratio)).mean().item()
            for key, value in (("policy_loss", policy_loss.item()),
                               ("value_loss", value_loss.item()),
                               ("entropy", mean_entropy.item()), ("approx_kl", approx_kl)):
                totals[key] = totals.get(key, 0.0) + value
            count += 1
    net.eval()
    return {key: value / max(count, 1) for key, value in totals.items()}


__all__ = ["PortfolioMemory", "collect", "update"]
