"""Policy-value network and the `Player` that wraps it for batched, deterministic acting.

Why an MLP with a shared trunk: the observation is a flat vector of live features plus
position state, and one forward pass must serve 500 symbols in ≤ 2 ms on a CPU core; a
shared trunk gives the value head the same representation the policy uses (the usual PPO
actor-critic), at half the cost of two networks.

Checkpoints carry their own metadata (observation size, action count, hidden sizes and a
hash of the feature names) so a model trained on one feature layout can never silently
score observations of another: `Player.load` refuses a mismatch with the reason.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rl.errors import ModelMismatchError  # kept importable from here
from rl.torch_threads import one_torch_thread

CHECKPOINT_FORMAT = 1


def save_checkpoint(payload: dict, path: str | Path) -> Path:
    """`torch.save` through a temporary name then a rename: a kill never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def weights_payload(checkpoint_format: int | str, spec: Any, net: nn.Module) -> dict:
    """A checkpoint dict: the format, the spec (a dataclass; `hidden` as a list) and a copy
    of the weights."""
    return {"format": checkpoint_format,
            "spec": {**asdict(spec), "hidden": list(spec.hidden)},
            "state_dict": {k: v.clone() for k, v in net.state_dict().items()}}


def spec_mismatches(expected: Any, other: Any, fields: tuple[str, ...]) -> list[str]:
    """Why a checkpoint's spec `other` cannot stand where `expected` is wanted: every field of
    `fields` that differs, and the feature hash when both carry one."""
    reasons = [f"{name} {getattr(other, name)} != expected {getattr(expected, name)}"
               for name in fields if getattr(expected, name) != getattr(other, name)]
    if expected.feature_hash and other.feature_hash and expected.feature_hash != other.feature_hash:
        reasons.append(f"feature hash {other.feature_hash} != expected {expected.feature_hash}")
    return reasons


def require_fit(expected: Any, spec: Any, source: str) -> None:
    """Refuse a checkpoint whose spec does not fit `expected` (None: anything fits), with
    every reason."""
    if expected is not None:
        reasons = expected.mismatches(spec)
        if reasons:
            raise ModelMismatchError(f"{source} does not fit: " + "; ".join(reasons))


def feature_names_hash(feature_names: Iterable[str]) -> str:
    """Short stable hash of the ordered feature names (order matters: it is the input layout)."""
    joined = "\x1f".join(feature_names)
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class NetSpec:
    """Everything needed to rebuild a network and to check that it fits an environment."""

    obs_size: int
    n_actions: int
    hidden: tuple[int, ...] = (128, 128)
    feature_hash: str = ""          # feature_names_hash(...) of the observation layout; "" = unknown

    def mismatches(self, other: NetSpec) -> list[str]:
        """Human-readable differences that make `other` unusable where `self` is expected."""
        return spec_mismatches(self, other, ("obs_size", "n_actions", "hidden"))


def orthogonal_init(body: Iterable[nn.Module], policy_head: nn.Linear,
                    value_head: nn.Linear) -> None:
    """Orthogonal init with a small policy head: the initial policy is near uniform, so
    early exploration is not biased towards whichever action the random init favoured.
    On one torch thread: the QR behind `orthogonal_` adds in a thread-count-dependent order,
    and the same seed must give the same weights in any process (ADR-101)."""
    with one_torch_thread():
        for module in body:
            if isinstance(module, nn.Linear):
                nn.init.orthogonal_(module.weight, gain=2**0.5)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.orthogonal_(policy_head.weight, gain=0.01)
        nn.init.orthogonal_(value_head.weight, gain=1.0)
        for head in (policy_head, value_head):
            if head.bias is not None:
                nn.init.zeros_(head.bias)


class PolicyValueNet(nn.Module):
    """MLP trunk (tanh) with a policy-logits head and a scalar value head."""

    def __init__(self, obs_size: int, n_actions: int, hidden: tuple[int, ...] = (128, 128)):
        super().__init__()
        layers: list[nn.Module] = []
        width = obs_size
        for size in hidden:
            layers += [nn.Linear(width, size), nn.Tanh()]
            width = size
        self.trunk = nn.Sequential(*layers)
        self.policy_head = nn.Linear(width, n_actions)
        self.value_head = nn.Linear(width, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        orthogonal_init(self.trunk, self.policy_head, self.value_head)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [B, n_actions], values [B]) for observations [B, obs_size]."""
        hidden = self.trunk(obs)
        return self.policy_head(hidden), self.value_head(hidden).squeeze(-1)


class Player:
    """A policy-value network with its spec: acts on batches, saves and loads itself."""

    def __init__(self, spec: NetSpec, net: PolicyValueNet | None = None, *, seed: int = 0):
        self.spec = spec
        if net is None:
            torch_state = torch.random.get_rng_state()
            torch.manual_seed(seed)          # reproducible init without leaking global state
            net = PolicyValueNet(spec.obs_size, spec.n_actions, spec.hidden)
            torch.random.set_rng_state(torch_state)
        self.net = net.float()
        self.net.eval()

    @classmethod
    def create(
        cls,
        obs_size: int,
        n_actions: int,
        hidden: tuple[int, ...] = (128, 128),
        feature_names: Iterable[str] = (),
        seed: int = 0,
    ) -> Player:
        """A freshly initialised player; `feature_names` pins the observation layout."""
        names = tuple(feature_names)
        spec = NetSpec(obs_size, n_actions, tuple(hidden),
                       feature_names_hash(names) if names else "")
        return cls(spec, seed=seed)

    def clone(self) -> Player:
        """An independent copy (current_player starts from best_player's weights)."""
        copy = Player(self.spec)
        copy.net.load_state_dict(self.net.state_dict())
        return copy

    @torch.inference_mode()
    def act(
        self,
        obs: np.ndarray,
        *,
        greedy: bool,
        generator: torch.Generator | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Actions (int64), their log-probabilities and state values (float32) for obs [B, obs].

        greedy=True takes the arg-max (arena, live trading); otherwise samples from the
        policy with `generator`, so a seeded generator reproduces the same episode.
        """
        if obs.ndim != 2 or obs.shape[1] != self.spec.obs_size:
            raise ModelMismatchError(
                f"observations of shape {obs.shape}, expected [batch, {self.spec.obs_size}]")
        x = torch.from_numpy(np.ascontiguousarray(obs, dtype=np.float32))
        logits, values = self.net(x)
        log_probs_all = torch.log_softmax(logits, dim=-1)
        if greedy:
            actions = log_probs_all.argmax(dim=-1)
        else:
            actions = torch.multinomial(log_probs_all.exp(), 1, generator=generator).squeeze(-1)
        log_probs = log_probs_all.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        return actions.numpy(), log_probs.numpy(), values.numpy()

    @torch.inference_mode()
    def probabilities(self, obs: np.ndarray) -> np.ndarray:
        """Action probabilities [B, n_actions] (float32), recorded with each live decision."""
        logits, _ = self.net(torch.from_numpy(np.ascontiguousarray(obs, dtype=np.float32)))
        return torch.softmax(logits, dim=-1).numpy()

    def save(self, path: str | Path) -> Path:
        """Write weights + spec atomically (tmp file then rename: a kill never leaves half a file)."""
        return save_checkpoint(self.payload(), path)

    @classmethod
    def load(cls, path: str | Path, expected: NetSpec | None = None) -> Player:
        """Read a saved player; with `expected`, refuse one that does not fit it."""
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
        return cls.from_payload(payload, expected, source=str(path))

    @classmethod
    def from_payload(
        cls, payload: dict, expected: NetSpec | None = None, source: str = "payload"
    ) -> Player:
        """Rebuild from a `save`-style dict (also embedded in self-play checkpoints)."""
        if payload.get("format") != CHECKPOINT_FORMAT:
            raise ModelMismatchError(f"{source}: unknown checkpoint format {payload.get('format')}")
        raw = payload["spec"]
        spec = NetSpec(int(raw["obs_size"]), int(raw["n_actions"]),
                       tuple(int(h) for h in raw["hidden"]), str(raw["feature_hash"]))
        require_fit(expected, spec, source)
        player = cls(spec)
        player.net.load_state_dict(payload["state_dict"])
        return player

    def payload(self) -> dict:
        """The dict `save` writes (format, spec, state_dict), for embedding in checkpoints."""
        return weights_payload(CHECKPOINT_FORMAT, self.spec, self.net)
