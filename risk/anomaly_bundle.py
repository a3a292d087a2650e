"""A trained anomaly model on disk: networks, standardization, validation scores, provenance.

One file written by `torch.save` of plain data and tensors only, so loading uses
`weights_only=True` (no pickle of arbitrary objects). It holds everything the daemon needs
to score exactly as training did: the input feature list (a bundle whose list differs from
the running code is refused), the standardizer's half-life, floor and warm-up, the weights
of the per-coin and market-wide AE and VAE, and their validation scores, from which any
threshold method and rate are derived at load time (so changing `[anomaly] rate` needs no
retraining). This is the one module of risk/ that touches files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model import errors
from risk.anomaly_features import INPUT_FEATURES
from risk.anomaly_models import NETWORKS

BUNDLE_FORMAT = 1
SCOPES = ("coin", "market")


class AnomalyModelError(errors.DataError):
    """The anomaly model file cannot be used; the message says how to get a usable one."""


@dataclass(frozen=True)
class AnomalyBundle:
    """A trained detector's parts. `networks[scope][kind]` is a fitted AE or VAE,
    `validation[scope][kind]` its scores on held-out training-period rows."""

    input_features: tuple[str, ...]
    halflife_minutes: float
    warmup_minutes: int
    floor: np.ndarray
    networks: dict[str, dict[str, Any]]
    validation: dict[str, dict[str, np.ndarray]]
    info: dict[str, Any] = field(default_factory=dict)  # training range, settings, losses

    def save(self, path: str | Path) -> Path:
        """Write atomically (temp file + rename): a crash never leaves half a model."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": BUNDLE_FORMAT,
            "input_features": list(self.input_features),
            "halflife_minutes": float(self.halflife_minutes),
            "warmup_minutes": int(self.warmup_minutes),
            "floor": torch.as_tensor(self.floor, dtype=torch.float64),
            "networks": {scope: {kind: net.to_state() for kind, net in nets.items()}
                         for scope, nets in self.networks.items()},
            "validation": {scope: {kind: torch.as_tensor(v, dtype=torch.float64)
                                   for kind, v in scores.items()}
                           for scope, scores in self.validation.items()},
            "info": self.info,
        }
        temporary = path.with_name(path.name + ".tmp")
        torch.save(payload, temporary)
        os.replace(temporary, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> AnomalyBundle:
        """Read a bundle; refuse one made for other inputs or by an unknown format."""
        path = Path(path)
        if not path.is_file():
            raise AnomalyModelError(
                f"no anomaly model at {path}; train one with "
                f"`entasis anomalies train --data DIR --out {path}`")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
            raise AnomalyModelError(f"{path} is not a readable anomaly model ({exc}); "
                                    "retrain with `entasis anomalies train`") from None
        if payload.get("format") != BUNDLE_FORMAT:
            raise AnomalyModelError(f"{path}: bundle format {payload.get('format')} "
                                    f"!= {BUNDLE_FORMAT}; retrain with `entasis anomalies train`")
        features = tuple(payload["input_features"])
        if features != INPUT_FEATURES:
            raise AnomalyModelError(
                f"{path} was trained on other features than this code computes "
                f"({len(features)} vs {len(INPUT_FEATURES)}); retrain with "
                "`entasis anomalies train`")
        networks = {scope: {kind: NETWORKS[kind].from_state(state)
                            for kind, state in nets.items()}
                    for scope, nets in payload["networks"].items()}
        validation = {scope: {kind: v.numpy() for kind, v in scores.items()}
                      for scope, scores in payload["validation"].items()}
        return cls(features, float(payload["halflife_minutes"]),
                   int(payload["warmup_minutes"]), payload["floor"].numpy(), networks,
                   validation, dict(payload["info"]))
