"""Tiny real forecast bundles for the hot-reload tests (seconds to train on one thread).

One training, saved as many times as a test needs: each save is a distinct bundle version
(the version hashes the files and the creation time), which is what the daemon compares.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from strategies.forecast.bundle import MANIFEST, save_bundle
from strategies.forecast.dataset import build_panel
from strategies.forecast.models import ModelParams
from strategies.forecast.synthetic import synthetic_grid
from strategies.forecast.training import TrainConfig, train

CONFIG = TrainConfig(horizons=(15,), folds=1, embargo_minutes=30, row_stride=30,
                     params=ModelParams.tiny())


def train_tiny() -> dict[int, Any]:
    """Horizon models for h=15 on a synthetic 4-coin market (torch on one thread)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(build_panel(synthetic_grid(seed=3, n_symbols=4, minutes=2000)), CONFIG)
    finally:
        torch.set_num_threads(previous)


def save_new(folder: Path, trained: dict[int, Any]) -> str:
    """Save `trained` as a new bundle at `folder` (absent); returns its version."""
    time.sleep(0.002)  # distinct created_ms, hence a distinct version
    save_bundle(folder, trained, CONFIG, data_source="synthetic seed 3")
    return json.loads((folder / MANIFEST).read_text())["version"]


def swap_in(fresh: Path, target: Path) -> None:
    """Replace `target` by `fresh` with renames, as `entasis forecast train --replace` does."""
    old = target.with_name(f"{target.name}.old-{os.getpid()}")
    target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old)
