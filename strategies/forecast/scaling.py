"""Input scaling fit on training rows only, saved with the bundle as plain numbers.

`robust` (the default) centres each column on its training median and divides by its
interquartile range, then clips to +-`clip`: crypto features are heavy-tailed, and the
designed MinMax scaling lets one flash crash squash a column's everyday values into a
sliver of [0, 1]. `minmax` (the original design) maps the training min/max to [-1, 1] and
clips the same way. Unknown inputs (NaN) become 0, the training centre, after scaling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

ScalerKind = Literal["robust", "minmax"]


@dataclass(frozen=True, slots=True)
class Scaler:
    """Per-column centre and scale; `transform` works on any leading shape [..., F]."""

    kind: ScalerKind
    centre: np.ndarray
    scale: np.ndarray
    clip: float
    rows_seen: int  # training rows the statistics came from (an audit figure)

    @classmethod
    def fit(cls, rows: np.ndarray, kind: ScalerKind = "robust", clip: float = 5.0) -> Scaler:
        """Statistics of the training rows [N, F] — pass only training rows."""
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise ValueError(f"fit needs training rows [N, F] with N > 0, got {rows.shape}")
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
                if kind == "robust":
                    low, centre, high = np.nanpercentile(rows, [25, 50, 75], axis=0)
                    scale = high - low
                elif kind == "minmax":
                    low, high = np.nanmin(rows, axis=0), np.nanmax(rows, axis=0)
                    centre, scale = (high + low) / 2, (high - low) / 2
                else:
                    raise ValueError(f"unknown scaler {kind!r}; use 'robust' or 'minmax'")
        centre = np.nan_to_num(centre, nan=0.0)
        scale = np.where(np.isfinite(scale) & (scale > 1e-12), scale, 1.0)
        return cls(kind, centre.astype(np.float64), scale.astype(np.float64), float(clip),
                   int(rows.shape[0]))

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scaled float32 copy of `values` [..., F]; NaN -> 0, clipped to +-clip.

        Computed in float32 (the models' precision): half the memory traffic of float64,
        which matters at 500 symbols x a window of steps per decision."""
        scaled = (np.asarray(values, dtype=np.float32) - self.centre.astype(np.float32)) \
            * (1.0 / self.scale).astype(np.float32)
        np.clip(scaled, -self.clip, self.clip, out=scaled)  # +-inf -> +-clip
        scaled[np.isnan(scaled)] = 0.0
        return scaled

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (floats round-trip exactly through repr)."""
        return {"kind": self.kind, "centre": self.centre.tolist(), "scale": self.scale.tolist(),
                "clip": self.clip, "rows_seen": self.rows_seen}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaler:
        """Inverse of `to_dict`."""
        return cls(data["kind"], np.asarray(data["centre"], dtype=np.float64),
                   np.asarray(data["scale"], dtype=np.float64), float(data["clip"]),
                   int(data["rows_seen"]))
