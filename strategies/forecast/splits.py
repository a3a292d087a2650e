"""Walk-forward splits over time with purging and an embargo — never a shuffle across time.

Rows are minutes (every coin of a minute shares its fold). Fold k validates on the k-th of
`n_folds` consecutive blocks after the initial training span and trains on minutes before
it, minus:
- the **purge**: the last `horizon` minutes before the block, whose targets
  (close[t + h]) would reach into the validation block, and
- the **embargo**: `embargo` more minutes before that, because inputs are serially
  correlated (an hour-long moving average at t - 1 almost equals the one at t) and a model
  fit right up to the block would be scored partly on what it memorized.
With `anchored=False` the training window slides (fixed length) instead of expanding.
Training rows after a block are never used: only the past predicts the future.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Fold:
    """Minute indices (ascending) of one walk-forward fold."""

    index: int
    train: np.ndarray
    validation: np.ndarray

    @property
    def gap(self) -> int:
        """Minutes between the last training row and the first validation row, minus one."""
        return int(self.validation[0] - self.train[-1] - 1)


def walk_forward(minutes: np.ndarray, n_folds: int, horizon: int, embargo: int, *,
                 min_train: int | None = None, anchored: bool = True) -> list[Fold]:
    """Purged, embargoed walk-forward folds over the (ascending) minute indices `minutes`.

    The first `min_train` minutes (default: half of them) only ever train; the rest is cut
    into `n_folds` equal validation blocks. Raises ValueError when a fold would have no
    training rows left after purging, with the sizes that did not fit."""
    minutes = np.asarray(minutes)
    if n_folds < 1 or horizon < 0 or embargo < 0:
        raise ValueError("n_folds >= 1, horizon >= 0 and embargo >= 0 are required")
    if minutes.size and np.any(np.diff(minutes) <= 0):
        raise ValueError("minutes must be strictly ascending")
    first_block = len(minutes) // 2 if min_train is None else min_train
    edges = np.linspace(first_block, len(minutes), n_folds + 1).astype(int)
    folds = []
    for k in range(n_folds):
        block = minutes[edges[k]:edges[k + 1]]
        if block.size == 0:
            raise ValueError(f"fold {k} has no validation minutes ({len(minutes)} minutes, "
                             f"{n_folds} folds): use fewer folds or more data")
        cutoff = block[0] - horizon - embargo  # train rows must be < cutoff
        train = minutes[minutes < cutoff]
        if not anchored:
            train = train[train >= cutoff - first_block]
        if train.size == 0:
            raise ValueError(
                f"fold {k}: nothing left to train on after purging {horizon} and embargoing "
                f"{embargo} minutes before minute {block[0]}; shorten the embargo or add data")
        folds.append(Fold(k, train, block))
    return folds


def assert_purged(fold: Fold, horizon: int, embargo: int) -> None:
    """Raise AssertionError if any training target overlaps the validation block or sits
    inside the embargo (the property the tests and the trainer check)."""
    latest_label = fold.train.max() + horizon
    if latest_label >= fold.validation.min() - embargo:
        raise AssertionError(
            f"fold {fold.index}: training label at minute {latest_label} is within "
            f"{embargo} minutes of validation starting at {fold.validation.min()}")
