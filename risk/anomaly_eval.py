"""Event-level evaluation of anomaly alarms against events defined before any score is seen.

Events (per coin, in the evaluation rows only, `per_coin` of each kind, at least
`separation` minutes apart so one crash is one event):
- **move**: the largest absolute 15-minute log returns, |log(close_t / close_t-15)|;
- **volume**: the largest 15-minute quote-volume sums relative to the coin's mean
  15-minute volume over the preceding day.
An event "ends" at row t (when the 15-minute window closes) and "starts" at t - 15.

Alarms are minutes where a scorer's score exceeds its threshold. Consecutive alarm minutes
(gaps up to `merge_gap`) form one *episode*.
- recall = events with an alarm of the same coin in [start - lead_window, end];
- precision = episodes that overlap [start - lead_window, end + merge_gap] of any event of
  that coin / all episodes;
- lead time = end - first alarm in the detection window, minutes: >= 15 means the alarm came
  before the move began (a real warning); 0-14 means during it. Median over detected events.
A seeded random alarm at the chosen rate is the chance yardstick: with events this dense,
precision of ~15 % comes free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from model import libm

MOVE_MINUTES = 15
DAY_MINUTES = 1440


@dataclass(frozen=True, slots=True)
class Event:
    """One event of one coin (column), ending at row `end`."""

    column: int
    end: int
    kind: str  # "move" | "volume"
    magnitude: float  # |log return| or volume ratio

    @property
    def start(self) -> int:
        """Row the 15-minute window opens at."""
        return self.end - MOVE_MINUTES


@dataclass(frozen=True, slots=True)
class EventScore:
    """Event-level quality of one alarm series."""

    events: int
    detected: int
    episodes: int
    true_episodes: int
    alarm_rate: float  # share of evaluated (coin, minute) rows in alarm
    median_lead_min: float  # NaN when nothing was detected
    early_share: float  # detected events alarmed before the move began

    @property
    def recall(self) -> float:
        """Detected events / events."""
        return self.detected / self.events if self.events else float("nan")

    @property
    def precision(self) -> float:
        """Episodes near an event / episodes."""
        return self.true_episodes / self.episodes if self.episodes else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Plain data with the derived ratios, rounded for reports."""
        return {"events": self.events, "detected": self.detected, "recall": _r(self.recall),
                "episodes": self.episodes, "precision": _r(self.precision),
                "alarm_rate": _r(self.alarm_rate, 5), "median_lead_min": _r(self.median_lead_min, 1),
                "early_share": _r(self.early_share)}


def _r(value: float, places: int = 3) -> float | None:
    return None if np.isnan(value) else round(float(value), places)


def top_separated(values: np.ndarray, count: int, separation: int) -> list[int]:
    """Rows of the `count` largest finite values, no two within `separation` rows."""
    order = np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable")
    chosen: list[int] = []
    for row in order:
        if not np.isfinite(values[row]) or len(chosen) == count:
            break
        if all(abs(int(row) - c) > separation for c in chosen):
            chosen.append(int(row))
    return sorted(chosen)


def move_strength(close: np.ndarray) -> np.ndarray:
    """|log(close_t / close_t-15)| [T, n] (NaN for the first 15 rows or missing prices)."""
    out = np.full(close.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[MOVE_MINUTES:] = np.abs(libm.log(close[MOVE_MINUTES:] / close[:-MOVE_MINUTES]))
    return out


def volume_strength(quote_volume: np.ndarray) -> np.ndarray:
    """15-minute quote volume / the mean 15-minute volume of the day before [T, n]."""
    volume = np.nan_to_num(quote_volume)
    total = np.vstack([np.zeros((1,) + volume.shape[1:]), np.cumsum(volume, axis=0)])
    rows = np.arange(volume.shape[0])
    out = np.full(volume.shape, np.nan)
    ok = rows >= MOVE_MINUTES + DAY_MINUTES - 1
    end = rows[ok] + 1
    window = total[end] - total[end - MOVE_MINUTES]
    before = (total[end - MOVE_MINUTES] - total[end - MOVE_MINUTES - DAY_MINUTES])
    with np.errstate(divide="ignore", invalid="ignore"):
        out[ok] = np.where(before > 0, window / (before * MOVE_MINUTES / DAY_MINUTES), np.nan)
    return out


def find_events(close: np.ndarray, quote_volume: np.ndarray, first_row: int, *,
                per_coin: int = 10, separation: int = 60) -> list[Event]:
    """Move and volume events of every column at rows >= `first_row` (see module doc)."""
    events: list[Event] = []
    for kind, strength in (("move", move_strength(close)),
                           ("volume", volume_strength(quote_volume))):
        strength[:first_row] = np.nan
        for column in range(close.shape[1]):
            for row in top_separated(strength[:, column], per_coin, separation):
                events.append(Event(column, row, kind, float(strength[row, column])))
    return events


def episodes(flags: np.ndarray, merge_gap: int) -> list[tuple[int, int]]:
    """(first, last) rows of alarm runs in a 1-D bool series, gaps <= merge_gap merged."""
    rows = np.flatnonzero(flags)
    if not len(rows):
        return []
    breaks = np.flatnonzero(np.diff(rows) > merge_gap + 1)
    starts = np.concatenate([[rows[0]], rows[breaks + 1]])
    ends = np.concatenate([rows[breaks], [rows[-1]]])
    return list(zip(starts.tolist(), ends.tolist()))


def score_alarms(flags: np.ndarray, events: list[Event], evaluated: np.ndarray, *,
                 lead_window: int = 60, merge_gap: int = 15) -> EventScore:
    """Event-level recall, precision and lead time of alarms [T, n] (bool) on `events`;
    `evaluated` [T, n] marks the rows that count (warm, in the evaluation period)."""
    flags = flags & evaluated
    detected, leads = 0, []
    by_column: dict[int, list[Event]] = {}
    for event in events:
        by_column.setdefault(event.column, []).append(event)
        lo = max(event.start - lead_window, 0)
        hits = np.flatnonzero(flags[lo:event.end + 1, event.column])
        if len(hits):
            detected += 1
            leads.append(event.end - (lo + int(hits[0])))
    n_episodes = true_episodes = 0
    for column in range(flags.shape[1]):
        windows = [(e.start - lead_window, e.end + merge_gap) for e in by_column.get(column, [])]
        for first, last in episodes(flags[:, column], merge_gap):
            n_episodes += 1
            true_episodes += any(first <= hi and last >= lo for lo, hi in windows)
    lead_array = np.asarray(leads, dtype=np.float64)
    return EventScore(
        events=len(events), detected=detected, episodes=n_episodes,
        true_episodes=true_episodes,
        alarm_rate=float(flags.sum() / max(evaluated.sum(), 1)),
        median_lead_min=float(np.median(lead_array)) if len(leads) else float("nan"),
        early_share=float((lead_array >= MOVE_MINUTES).mean()) if len(leads) else float("nan"),
    )


def random_alarms(shape: tuple[int, ...], rate: float, evaluated: np.ndarray, seed: int
                  ) -> np.ndarray:
    """Chance yardstick: each evaluated row in alarm with probability `rate` (seeded)."""
    return (np.random.default_rng(seed).random(shape) < rate) & evaluated
