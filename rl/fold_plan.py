"""How out-of-fold forecast and anomaly columns are cut in time, and the CLI's names for it.

Kept apart from rl/extra_folds.py (which trains the models) so that the command line can
show these defaults without importing the training stack: `entasis run` starts in a
fraction of the time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FoldPlan:
    """Where the out-of-fold blocks start and how far each model's training stops short."""

    min_train_minutes: int = 3 * 1440  # rows before the first served block (incl. warm-up)
    refit_minutes: int = 2 * 1440  # one model pair serves this many minutes
    embargo_minutes: int = 60  # gap between a model's last training row and its block

    def blocks(self, length: int) -> list[tuple[int, int, int]]:
        """(train_stop, start, stop) per block: models fit on rows [0, train_stop) serve rows
        [start, stop). Depends on the row count only."""
        if self.refit_minutes < 1 or self.embargo_minutes < 0:
            raise ValueError("refit_minutes >= 1 and embargo_minutes >= 0 are required")
        if self.min_train_minutes <= self.embargo_minutes:
            raise ValueError(f"min_train_minutes ({self.min_train_minutes}) must exceed the "
                             f"embargo ({self.embargo_minutes})")
        return [(start - self.embargo_minutes, start, min(start + self.refit_minutes, length))
                for start in range(self.min_train_minutes, length, self.refit_minutes)]


PLAN_KNOBS: tuple[tuple[str, str], ...] = (
    ("min_train_minutes", "rows before the first out-of-fold block (incl. warm-up)"),
    ("refit_minutes", "minutes each out-of-fold model pair serves"),
    ("embargo_minutes", "minutes between a model's last training row and the block it serves"),
)


def plan_option(field: str) -> str:
    """The command-line spelling of a FoldPlan field: `--extra-min-train-minutes`."""
    return "--extra-" + field.replace("_", "-")
