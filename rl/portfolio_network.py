"""Permutation-equivariant policy-value network over a portfolio's coins, and its player.

Why this shape: a portfolio env observes N coins at once (N differs per data set and per
step, as coins list and delist), and a coin's identity must not matter, only its features:
"buy the coin that is strong *relative to the others*" must be the same decision whichever
slot the coin sits in. So every coin goes through one shared encoder (an MLP on its own
row), the cross-section is summarised by a masked mean AND a masked max of the encodings
(the mean is "the market", the max its extremes; both ignore coin order and padding), the
summary is joined with an encoding of the portfolio state, and a shared head scores each
coin's actions from its own encoding plus that context. One set of weights therefore serves
any universe size, and permuting the coins permutes the actions and leaves the value alone.

Why pooling and not attention: pooling is O(N) — each coin costs three small matrix-vector
products — while self-attention adds N x N scores per env (500 coins: 250k pairs per head) on top of
the Q/K/V projections. Measured on one core of this repo's 2-core AMD EPYC machine
(`python -m bench rl`, bench/_rl_portfolio.py), one env of 500 coins x 60 features, greedy
`act`: p50 1.15 ms / p99 1.22 ms all live, 1.29 / 1.34 ms with 10 % padding, against 0.97 /
1.02 ms for the flat per-symbol MLP in the same loop (1.19x); one single-head attention
layer alone on the same 500 x 128 encodings costs p50 3.1 ms, past the 2 ms budget before
any other layer. What attention would add (where a coin stands against the others) the
env's observation already carries as inputs: cross-sectional ranks and z-scores.

Implementation note: the mixing layer on concat(coin, context) is computed as W_coin @ coin
+ W_context @ context, the context product done once per env and broadcast: the same
function as the concatenation, without copying the context N times.

Masked coins (padding, or no data this step) are zeroed before the encoder (so NaN padding
cannot leak into a gradient), stay out of the pooling, and get logits that put probability
1 on HOLD: they can never trade, and they add exactly 0 to the joint log-probability.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rl.errors import ModelMismatchError
from rl.networks import (
    feature_names_hash,
    orthogonal_init,
    require_fit,
    save_checkpoint,
    spec_mismatches,
    weights_payload,
)
from rl.spaces import HOLD, action_names

#: Checkpoint marker; a string so a flat `Player` checkpoint (format 1) is never read as one
#: of these, nor one of these as a flat `Player`'s (each side names the other's format).
PORTFOLIO_CHECKPOINT_FORMAT = "portfolio/1"
#: Logit given to the non-HOLD actions of a masked coin: finite (so entropy's p * log p is
#: 0 * -1e9 = 0, not 0 * -inf = NaN) and far enough below 0 that exp() underflows to 0.
MASKED_LOGIT = -1e9


@dataclass(frozen=True, slots=True)
class PortfolioNetSpec:
    """Everything needed to rebuild a portfolio network and to check that it fits an env."""

    coin_features: int
    portfolio_features: int
    n_actions: int
    hidden: tuple[int, ...] = (128, 128)
    feature_hash: str = ""   # portfolio_feature_hash(...) of the input layout; "" = unknown

    def mismatches(self, other: PortfolioNetSpec) -> list[str]:
        """Human-readable differences that make `other` unusable where `self` is expected."""
        return spec_mismatches(self, other, ("coin_features", "portfolio_features",
                                             "n_actions", "hidden"))


def portfolio_feature_hash(coin_names: Iterable[str], portfolio_names: Iterable[str]) -> str:
    """Hash of the coin columns then the portfolio columns (the spec's counts fix the split)."""
    return feature_names_hash((*coin_names, *portfolio_names))


def _mlp(width: int, sizes: Iterable[int]) -> tuple[nn.Sequential, int]:
    """Linear + tanh layers of `sizes` on inputs of `width`, and the output width."""
    layers: list[nn.Module] = []
    for size in sizes:
        layers += [nn.Linear(width, size), nn.Tanh()]
        width = size
    return nn.Sequential(*layers), width


class PortfolioPolicyNet(nn.Module):
    """Shared coin encoder, masked mean+max pooling, per-coin policy head, per-env value head.

    Layers for hidden=(h1, ..., hk): the coin encoder is hidden[:-1] (tanh); the last layer
    hk mixes each coin's encoding with the context [mean, max, portfolio encoding] (the
    DeepSets equivariant layer); the policy head reads that per coin, the value head (one
    tanh layer of hk) reads the context: a per-env scalar, invariant to coin order.
    """

    masked_logits: torch.Tensor        # [n_actions]: 0 for HOLD, MASKED_LOGIT elsewhere

    def __init__(self, coin_features: int, portfolio_features: int, n_actions: int,
                 hidden: tuple[int, ...] = (128, 128)):
        super().__init__()
        if len(hidden) < 2:
            raise ValueError(f"hidden {hidden}: needs at least two layer sizes (the coin "
                             f"encoder, then the context-mixing layer), e.g. (128, 128)")
        self.coin_encoder, encoded = _mlp(coin_features, hidden[:-1])
        width = hidden[-1]
        self.portfolio_encoder, _ = _mlp(portfolio_features, (width,))
        self.mix_coin = nn.Linear(encoded, width)
        self.mix_context = nn.Linear(2 * encoded + width, width, bias=False)
        self.policy_head = nn.Linear(width, n_actions)
        self.value_trunk, _ = _mlp(2 * encoded + width, (width,))
        self.value_head = nn.Linear(width, 1)
        masked = torch.full((n_actions,), MASKED_LOGIT)
        masked[HOLD] = 0.0
        self.register_buffer("masked_logits", masked, persistent=False)
        self._init_weights()

    def _init_weights(self) -> None:
        orthogonal_init(self.modules(), self.policy_head, self.value_head)

    def forward(self, coins: torch.Tensor, portfolio: torch.Tensor, mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [B, N, n_actions], values [B]) for coins [B, N, C], portfolio [B, P] and
        mask [B, N] (True = a live coin)."""
        live = None if bool(mask.all()) else mask.unsqueeze(-1)   # None: nothing to mask
        if live is not None:
            coins = torch.where(live, coins, 0.0)      # NaN in padding never reaches a grad
        encoded = self.coin_encoder(coins)
        context = torch.cat((*_pool(encoded, live), self.portfolio_encoder(portfolio)), dim=-1)
        per_coin = torch.tanh(self.mix_coin(encoded) + self.mix_context(context).unsqueeze(1))
        logits = self.policy_head(per_coin)
        if live is not None:
            logits = torch.where(live, logits, self.masked_logits)
        values = self.value_head(self.value_trunk(context)).squeeze(-1)
        return logits, values


def _pool(encoded: torch.Tensor, live: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and max over the live coins (live [B, N, 1]; None = all) of tanh encodings
    [B, N, H] -> two [B, H]; an env with no live coin gets zeros (no market, no extremes).

    Masked by arithmetic, not torch.where/masked_fill: on one core those broadcast a bool
    mask at ~1 ns per element, several times a multiply. Exact for live coins (the encodings
    are finite: x * 1 = x, x - 0 = x), so all-live input gives the very same bits either way.
    """
    if live is None:
        return encoded.sum(dim=1) / encoded.shape[1], encoded.amax(dim=1)
    weights = live.to(encoded.dtype)
    count = weights.sum(dim=1)
    mean = (encoded * weights).sum(dim=1) / count.clamp(min=1)
    peak = (encoded - 4.0 * (1.0 - weights)).amax(dim=1)    # tanh > -1; masked <= -3
    return mean, peak * (count > 0)


class PortfolioPlayer:
    """A portfolio policy-value network with its spec: acts on batches of envs, saves itself."""

    def __init__(self, spec: PortfolioNetSpec, net: PortfolioPolicyNet | None = None, *,
                 seed: int = 0, trained_on: dict[str, Any] | None = None):
        self.spec = spec
        # What the network was trained on, saved with its weights for live trading
        # (rl/portfolio_live_policy.py): bar_ms, decision_every, offsets_ticks, stop_pct.
        self.trained_on: dict[str, Any] = dict(trained_on or {})
        if net is None:
            torch_state = torch.random.get_rng_state()
            torch.manual_seed(seed)          # reproducible init without leaking global state
            net = PortfolioPolicyNet(spec.coin_features, spec.portfolio_features,
                                     spec.n_actions, spec.hidden)
            torch.random.set_rng_state(torch_state)
        self.net = net.float()
        self.net.eval()

    @classmethod
    def create(
        cls,
        coin_features: int,
        portfolio_features: int,
        n_actions: int | None = None,
        hidden: tuple[int, ...] = (128, 128),
        coin_feature_names: Iterable[str] = (),
        portfolio_feature_names: Iterable[str] = (),
        seed: int = 0,
    ) -> PortfolioPlayer:
        """A freshly initialised player; n_actions defaults to rl.spaces' action layout, and
        the feature names (both, or neither) pin the input layout."""
        coin_names, portfolio_names = tuple(coin_feature_names), tuple(portfolio_feature_names)
        names_hash = (portfolio_feature_hash(coin_names, portfolio_names)
                      if coin_names or portfolio_names else "")
        spec = PortfolioNetSpec(coin_features, portfolio_features,
                                len(action_names()) if n_actions is None else n_actions,
                                tuple(hidden), names_hash)
        return cls(spec, seed=seed)

    def clone(self) -> PortfolioPlayer:
        """An independent copy (current_player starts from best_player's weights)."""
        copy = PortfolioPlayer(self.spec, trained_on=self.trained_on)
        copy.net.load_state_dict(self.net.state_dict())
        return copy

    def _inputs(self, coins: np.ndarray | torch.Tensor, portfolio: np.ndarray | torch.Tensor,
                mask: np.ndarray | torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Checked float32/bool tensors; a wrong shape raises ModelMismatchError with the
        shapes expected (a model must never score another layout's columns)."""
        spec = self.spec
        if coins.ndim != 3 or coins.shape[2] != spec.coin_features:
            raise ModelMismatchError(
                f"coins of shape {tuple(coins.shape)}, expected [batch, coins, "
                f"{spec.coin_features}]")
        batch, n_coins = int(coins.shape[0]), int(coins.shape[1])
        if n_coins == 0:
            raise ModelMismatchError(
                f"coins of shape {tuple(coins.shape)}: needs at least one coin slot "
                f"(an env with no coin this step: pass one with mask False)")
        if tuple(portfolio.shape) != (batch, spec.portfolio_features):
            raise ModelMismatchError(
                f"portfolio of shape {tuple(portfolio.shape)}, expected "
                f"[{batch}, {spec.portfolio_features}]")
        if tuple(mask.shape) != (batch, n_coins):
            raise ModelMismatchError(
                f"mask of shape {tuple(mask.shape)}, expected [{batch}, {n_coins}]")
        return (torch.as_tensor(coins, dtype=torch.float32),
                torch.as_tensor(portfolio, dtype=torch.float32),
                torch.as_tensor(mask, dtype=torch.bool))

    @torch.inference_mode()
    def act(
        self,
        coins: np.ndarray,
        portfolio: np.ndarray,
        mask: np.ndarray,
        *,
        greedy: bool,
        generator: torch.Generator | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Actions int64 [B, N], joint log-probabilities float32 [B] and values float32 [B].

        The joint log-probability is the sum of the live coins' log-probabilities (the
        policy factorises over coins given the shared context), which is what PPO's ratio
        needs. greedy=True takes each coin's arg-max (arena, live trading); otherwise it
        samples with `generator`, so a seeded generator reproduces the same episode.
        """
        x_coins, x_portfolio, x_mask = self._inputs(coins, portfolio, mask)
        logits, values = self.net(x_coins, x_portfolio, x_mask)
        log_probs_all = torch.log_softmax(logits, dim=-1)
        if greedy:
            actions = log_probs_all.argmax(dim=-1)
        else:
            flat = log_probs_all.reshape(-1, self.spec.n_actions).exp()
            actions = torch.multinomial(flat, 1, generator=generator).view(logits.shape[:2])
        # No masking needed here: a masked coin's HOLD has probability exactly 1 (log 0.0),
        # so it is always the arg-max and the only draw, and adds exactly 0 to the sum.
        chosen = log_probs_all.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        joint = chosen.sum(dim=1)
        return actions.numpy(), joint.numpy(), values.numpy()

    def evaluate(
        self,
        coins: torch.Tensor,
        portfolio: torch.Tensor,
        mask: torch.Tensor,
        actions: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(joint log-prob [B], entropy [B], values [B]) of `actions` [B, N], with grad, for
        PPO: both sums run over live coins only (a masked coin's action is not the policy's)."""
        x_coins, x_portfolio, x_mask = self._inputs(coins, portfolio, mask)
        if tuple(actions.shape) != tuple(x_mask.shape):
            raise ModelMismatchError(
                f"actions of shape {tuple(actions.shape)}, expected {tuple(x_mask.shape)}")
        logits, values = self.net(x_coins, x_portfolio, x_mask)
        log_probs_all = torch.log_softmax(logits, dim=-1)
        taken = torch.where(x_mask, torch.as_tensor(actions, dtype=torch.int64), HOLD)
        index = taken.unsqueeze(-1)        # padding may carry any action id, even -1
        chosen = log_probs_all.gather(-1, index).squeeze(-1)
        entropy = -(log_probs_all.exp() * log_probs_all).sum(dim=-1)
        return (torch.where(x_mask, chosen, 0.0).sum(dim=1),
                torch.where(x_mask, entropy, 0.0).sum(dim=1), values)

    @torch.inference_mode()
    def probabilities(self, coins: np.ndarray, portfolio: np.ndarray, mask: np.ndarray
                      ) -> np.ndarray:
        """Action probabilities [B, N, n_actions] (float32), recorded with each decision."""
        logits, _ = self.net(*self._inputs(coins, portfolio, mask))
        return torch.softmax(logits, dim=-1).numpy()

    def save(self, path: str | Path) -> Path:
        """Write weights + spec atomically (tmp file then rename: a kill never leaves half a file)."""
        return save_checkpoint(self.payload(), path)

    @classmethod
    def load(cls, path: str | Path, expected: PortfolioNetSpec | None = None
             ) -> PortfolioPlayer:
        """Read a saved player; with `expected`, refuse one that does not fit it."""
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
        return cls.from_payload(payload, expected, source=str(path))

    @classmethod
    def from_payload(cls, payload: dict, expected: PortfolioNetSpec | None = None,
                     source: str = "payload") -> PortfolioPlayer:
        """Rebuild from a `save`-style dict (also embedded in self-play checkpoints)."""
        found = payload.get("format")
        if found != PORTFOLIO_CHECKPOINT_FORMAT:
            raise ModelMismatchError(
                f"{source}: checkpoint format {found!r} is not a portfolio network "
                f"({PORTFOLIO_CHECKPOINT_FORMAT!r}); a flat per-symbol model loads with "
                f"rl.networks.Player")
        raw = payload["spec"]
        spec = PortfolioNetSpec(int(raw["coin_features"]), int(raw["portfolio_features"]),
                                int(raw["n_actions"]), tuple(int(h) for h in raw["hidden"]),
                                str(raw["feature_hash"]))
        require_fit(expected, spec, source)
        player = cls(spec, trained_on=payload.get("trained_on"))
        player.net.load_state_dict(payload["state_dict"])
        return player

    def payload(self) -> dict:
        """The dict `save` writes (format, spec, state_dict and, when known, trained_on), for
        embedding in checkpoints."""
        payload = weights_payload(PORTFOLIO_CHECKPOINT_FORMAT, self.spec, self.net)
        if self.trained_on:
            payload["trained_on"] = dict(self.trained_on)
        return payload
