"""Anomaly scorers: an autoencoder, a VAE, and the cheap baselines they must beat.

Every scorer maps rows of standardized inputs [N, F] to one score per row, higher = more
unusual, and is fit on training rows only:

- `AutoEncoder`: encoder -> latent -> mirrored decoder; score = mean squared reconstruction
  error. What it cannot rebuild from a narrow latent code is unlike its training data.
- `VariationalAutoEncoder`: the same shape with a Gaussian latent; trained on the ELBO
  (reconstruction + beta x KL); score = the negative ELBO per feature at the posterior mean,
  deterministic so a saved model reloads to identical scores.
- `VolatilityZScore`: the standardized 1-hour volatility (one-sided): "moving more than it
  usually does". The yardstick every desk already has.
- `MahalanobisScorer`: squared Mahalanobis distance under a Ledoit-Wolf covariance: the
  linear-Gaussian version of "unlike the training data".
- `IsolationForestScorer`: scikit-learn's IsolationForest; score = -score_samples.

Torch is CPU, float32, seeded; inference runs in chunks with gradients off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

INFERENCE_CHUNK = 65_536


class Scorer(Protocol):
    """Anything that scores rows [N, F] (higher = more anomalous)."""

    name: str

    def score(self, rows: np.ndarray) -> np.ndarray:
        """One float64 score per row."""
        ...


@dataclass(frozen=True, slots=True)
class NetShape:
    """Layer sizes of an (V)AE: inputs -> hidden -> latent -> hidden -> inputs."""

    n_inputs: int
    hidden: int = 32
    latent: int = 6

    def to_dict(self) -> dict[str, int]:
        """Plain data for the bundle."""
        return {"n_inputs": self.n_inputs, "hidden": self.hidden, "latent": self.latent}


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """How a network is fit (a small budget is enough for ~40 inputs)."""

    epochs: int = 8
    batch_size: int = 256
    learning_rate: float = 2e-3
    max_rows: int = 120_000  # larger training sets are subsampled (seeded), not truncated
    beta: float = 0.5  # VAE only: weight of the KL term
    seed: int = 0


DEFAULT_SETTINGS = TrainSettings()


class _Net(nn.Module):
    def __init__(self, shape: NetShape, variational: bool) -> None:
        super().__init__()
        code = 2 * shape.latent if variational else shape.latent
        self.encoder = nn.Sequential(nn.Linear(shape.n_inputs, shape.hidden), nn.ELU(),
                                     nn.Linear(shape.hidden, code))
        self.decoder = nn.Sequential(nn.Linear(shape.latent, shape.hidden), nn.ELU(),
                                     nn.Linear(shape.hidden, shape.n_inputs))
        self.latent = shape.latent
        self.variational = variational

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction at the code's mean, mean, log-variance or zeros)."""
        code = self.encoder(x)
        if not self.variational:
            return self.decoder(code), code, torch.zeros_like(code)
        mean, log_var = code[:, :self.latent], code[:, self.latent:].clamp(-8.0, 8.0)
        return self.decoder(mean), mean, log_var


class _TorchScorer:
    """Shared training and inference of the two networks."""

    name = "net"
    variational = False

    def __init__(self, shape: NetShape) -> None:
        self.shape = shape
        self.net = _Net(shape, self.variational)
        self.net.eval()
        self.beta = TrainSettings().beta

    # -- training ------------------------------------------------------------------------------
    def fit(self, rows: np.ndarray, settings: TrainSettings = DEFAULT_SETTINGS) -> list[float]:
        """Fit on training rows [N, F]; returns the mean loss of every epoch."""
        torch.manual_seed(settings.seed)
        self.net = _Net(self.shape, self.variational)  # seeded initial weights: reproducible
        rng = np.random.default_rng(settings.seed)
        rows = _finite_rows(rows)
        if len(rows) > settings.max_rows:
            rows = rows[np.sort(rng.choice(len(rows), settings.max_rows, replace=False))]
        if len(rows) < settings.batch_size:
            raise ValueError(f"{len(rows)} training rows; need at least {settings.batch_size}")
        data = torch.as_tensor(rows, dtype=torch.float32)
        optimizer = torch.optim.Adam(self.net.parameters(), lr=settings.learning_rate)
        self.net.train()
        history = []
        for _ in range(settings.epochs):
            order = torch.as_tensor(rng.permutation(len(data)))
            total, batches = 0.0, 0
            for start in range(0, len(data) - settings.batch_size + 1, settings.batch_size):
                batch = data[order[start:start + settings.batch_size]]
                loss = self._loss(batch, settings.beta)
                optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]  # unannotated in torch
                optimizer.step()
                total, batches = total + loss.item(), batches + 1
            history.append(total / max(batches, 1))
        self.net.eval()
        self.beta = settings.beta
        return history

    def _loss(self, batch: torch.Tensor, beta: float) -> torch.Tensor:
        code = self.net.encoder(batch)
        if not self.variational:
            return ((self.net.decoder(code) - batch) ** 2).mean()
        mean, log_var = code[:, :self.shape.latent], code[:, self.shape.latent:].clamp(-8, 8)
        sample = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        reconstruction = ((self.net.decoder(sample) - batch) ** 2).mean()
        kl = -0.5 * (1 + log_var - mean ** 2 - log_var.exp()).sum(dim=1).mean()
        return reconstruction + beta * kl / self.shape.n_inputs

    # -- inference ------------------------------------------------------------------------------
    @torch.no_grad()
    def score(self, rows: np.ndarray) -> np.ndarray:
        """Score per row (NaN inputs count as 0 = "as usual")."""
        rows = np.nan_to_num(np.asarray(rows, dtype=np.float64))
        out = np.empty(len(rows))
        for start in range(0, len(rows), INFERENCE_CHUNK):
            x = torch.as_tensor(rows[start:start + INFERENCE_CHUNK], dtype=torch.float32)
            rebuilt, mean, log_var = self.net(x)
            score = ((rebuilt - x) ** 2).mean(dim=1)
            if self.variational:
                kl = -0.5 * (1 + log_var - mean ** 2 - log_var.exp()).sum(dim=1)
                score = score + self.beta * kl / self.shape.n_inputs
            out[start:start + len(x)] = score.double().numpy()
        return out

    # -- persistence (plain data; the bundle writes it) -------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Weights and shape as tensors and plain values (loadable with weights_only)."""
        return {"kind": self.name, "shape": self.shape.to_dict(), "beta": float(self.beta),
                "weights": {k: v.clone() for k, v in self.net.state_dict().items()}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> _TorchScorer:
        """Inverse of `to_state`."""
        scorer = cls(NetShape(**state["shape"]))
        scorer.net.load_state_dict(state["weights"])
        scorer.net.eval()
        scorer.beta = float(state["beta"])
        return scorer


class AutoEncoder(_TorchScorer):
    """Deterministic autoencoder; score = mean squared reconstruction error."""

    name = "ae"
    variational = False


class VariationalAutoEncoder(_TorchScorer):
    """VAE; score = reconstruction error at the posterior mean + beta x KL / F."""

    name = "vae"
    variational = True


NETWORKS: dict[str, type[_TorchScorer]] = {"ae": AutoEncoder, "vae": VariationalAutoEncoder}


class VolatilityZScore:
    """The standardized 1h volatility itself (column `column` of the inputs), one-sided."""

    name = "vol_z"

    def __init__(self, column: int) -> None:
        self.column = column

    def fit(self, rows: np.ndarray) -> VolatilityZScore:
        """Nothing to learn: the rolling standardization already is the model."""
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        """The z-score of volatility (negative = calmer than usual = never anomalous)."""
        return np.nan_to_num(np.asarray(rows, dtype=np.float64)[:, self.column])


class MahalanobisScorer:
    """Squared Mahalanobis distance from the training mean (Ledoit-Wolf covariance)."""

    name = "mahalanobis"

    def fit(self, rows: np.ndarray, max_rows: int = 200_000, seed: int = 0
            ) -> MahalanobisScorer:
        """Estimate the location and shrunk covariance on training rows."""
        from sklearn.covariance import LedoitWolf

        rows = _subsample(_finite_rows(rows), max_rows, seed)
        self.model = LedoitWolf().fit(rows)
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        """Squared distance per row."""
        return self.model.mahalanobis(np.nan_to_num(np.asarray(rows, dtype=np.float64)))


class IsolationForestScorer:
    """IsolationForest (100 trees of 256 samples); score = -score_samples (higher = odder)."""

    name = "isolation_forest"

    def fit(self, rows: np.ndarray, max_rows: int = 50_000, seed: int = 0
            ) -> IsolationForestScorer:
        """Grow the forest on (a seeded subsample of) the training rows."""
        from sklearn.ensemble import IsolationForest

        rows = _subsample(_finite_rows(rows), max_rows, seed)
        self.model = IsolationForest(n_estimators=100, max_samples=256, random_state=seed,
                                     n_jobs=1).fit(rows)
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        """-score_samples per row."""
        return -self.model.score_samples(np.nan_to_num(np.asarray(rows, dtype=np.float64)))


def _finite_rows(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    return rows[np.isfinite(rows).all(axis=1)]


def _subsample(rows: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    if len(rows) <= max_rows:
        return rows
    pick = np.random.default_rng(seed).choice(len(rows), max_rows, replace=False)
    return rows[np.sort(pick)]
