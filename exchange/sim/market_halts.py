"""Market-wide halts: bars in which nobody trades anything, because the venue was down.

Why apart from each coin's no-trade odds: on Binance's 1h bars of 2018-19 almost every hour
without a bar is an hour in which (nearly) every listed coin has none, 90 hours in two
years — maintenance and outages, not thin books. A per-coin chance of a quiet bar, moved by
each coin's activity, cannot make them: fitted to the right share, it spread its quiet
hours over coins and times, and a refined fit drifted to 0.6 % against the data's 0.4 %.
A halt is a two-state chain per bar, its share and mean length read directly off the data.

`estimate` reads them from which coins traded; `halt_path` steps the chain for the model.
Fits on 1m bars leave halts out (exchange/sim/calibrate.py): on Bittrex's 1m months one or
two such minutes a month cannot be told from the coins' own quiet minutes (9.7 % and 0.9 %
of minutes), and the shipped files' markets stay what they were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A bar counts as halted where at least this share of the coins listed then have no trade.
HALTED_COIN_SHARE = 0.8
#: ... and only where at least this many coins are listed (one coin cannot tell a halt from
#: a quiet bar of its own).
MIN_COINS_FOR_HALTS = 3


@dataclass(frozen=True, slots=True)
class Halts:
    """The share of bars halted and the mean length of a halt, in bars (0 and 1: none)."""

    share: float
    mean_bars: float


def estimate(traded: np.ndarray, listed: np.ndarray) -> Halts:
    """Halts from `traded` [T, N] (a coin traded in the bar) and `listed` [T, N] (the bar is
    within the coin's span: from its first trade to its last).

    The share is the part of the no-trade share (quiet coin-bars over listed coin-bars) that
    halted bars hold, so that a model halting every coin that share of its bars makes the
    data's no-trade bars; the mean length is the halted runs' (in bars)."""
    listed_count, quiet, judged = _bar_counts(traded, listed)
    halted = judged & (quiet >= HALTED_COIN_SHARE * listed_count)
    count = int(halted.sum())
    if count == 0:
        return Halts(0.0, 1.0)
    starts = int(halted[0]) + int(np.count_nonzero(halted[1:] & ~halted[:-1]))
    share = float(quiet[halted].sum()) / float(listed_count[judged].sum())
    return Halts(share, count / starts)


def halted_bars(traded: np.ndarray, listed: np.ndarray) -> np.ndarray:
    """[T]: the bars in which at least `HALTED_COIN_SHARE` of at least
    `MIN_COINS_FOR_HALTS` listed coins did not trade."""
    listed_count, quiet, judged = _bar_counts(traded, listed)
    return judged & (quiet >= HALTED_COIN_SHARE * listed_count)


def _bar_counts(traded: np.ndarray, listed: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[T] each: coins listed, listed coins that did not trade, and whether enough coins
    are listed to judge a halt."""
    listed_count = listed.sum(axis=1)
    quiet = (~traded & listed).sum(axis=1)
    return listed_count, quiet, listed_count >= MIN_COINS_FOR_HALTS


def halt_path(draws: np.ndarray, halted: bool, share: float, mean_bars: float
              ) -> tuple[np.ndarray, bool]:
    """Whether each bar is halted, for one uniform `draws` per bar, from the previous bar's
    state `halted`; and the last bar's state. A halt ends with chance 1 / `mean_bars` a bar
    and starts with the chance that keeps `share` of the bars halted."""
    leave = 1.0 / max(mean_bars, 1.0)
    enter = min(leave * share / max(1.0 - share, 1e-12), 1.0)
    path = np.empty(draws.shape[0], bool)
    for t in range(draws.shape[0]):
        halted = bool(draws[t] < (1.0 - leave if halted else enter))
        path[t] = halted
    return path, halted
