"""Action and observation layouts of the trading env, shared by training and live inference.

Kept apart from the env so the live engine (which has a `FeatureBook`, not a `BatchedEnv`)
can build the very same observation columns from `FeatureBook.matrix()` with
`feature_observation` and decode a policy's action index with `action_names`.

Actions (flat, discrete): HOLD, CANCEL_BUY, CANCEL_SELL, then BUY and SELL at each limit
offset. The offset counts ticks of *aggressiveness* from the own side of the book the bar
model synthesizes at the next open (bid = last close, ask = bid + spread): BUY+0 joins the
bid, BUY+1 (with a one-tick spread) lifts the ask, BUY-1 rests a tick below; SELL+0 joins
the ask, SELL+1 hits the bid. The same sign means the same thing on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from strategies.feature_columns import FEATURE_INDEX, FEATURE_NAMES, TICK_FEATURES

HOLD, CANCEL_BUY, CANCEL_SELL = 0, 1, 2
N_FIXED_ACTIONS = 3
DEFAULT_OFFSETS_TICKS: tuple[int, ...] = (-1, 0, 1)


def action_names(offsets_ticks: Sequence[int] = DEFAULT_OFFSETS_TICKS) -> tuple[str, ...]:
    """Flat action names: fixed actions, then BUY at each offset, then SELL at each."""
    def label(side: str, k: int) -> str:
        return f"{side}{k:+d}"
    return ("HOLD", "CANCEL_BUY", "CANCEL_SELL",
            *(label("BUY", k) for k in offsets_ticks), *(label("SELL", k) for k in offsets_ticks))


def grid_price(ticks: int, tick: float) -> float:
    """`ticks` x `tick` as the float nearest the exact grid price (20.054, not
    20.054000000000002). Why it matters: `Instrument.price` rounds a sell *up* and a buy
    *down* from the float's shortest decimal form, so one ulp of noise above the grid moves
    a sell a whole tick away (found by the env/backtester parity test)."""
    return float(int(ticks) * Decimal(repr(float(tick))))


# -- observation: features ------------------------------------------------------------------
#: Feature columns the policy sees: all live features except the tick-only ones, which are
#: always NaN in the bar history (a policy must not learn to rely on columns training lacks).
OBS_FEATURES: tuple[str, ...] = tuple(f for f in FEATURE_NAMES if f not in TICK_FEATURES)
_OBS_INDEX = np.array([FEATURE_INDEX[f] for f in OBS_FEATURES], np.int64)
OBS_CLIP = 10.0


def _scales() -> np.ndarray:
    """Per-column multipliers that bring every feature to order one: log ratios and returns
    to percent, per-minute volatilities to per-mille, turnovers and warm-up to small ranges."""
    scale = np.ones(len(OBS_FEATURES))
    for i, name in enumerate(OBS_FEATURES):
        if name.startswith(("px_ma_", "ret_")):
            scale[i] = 100.0
        elif name.startswith("sigma_"):
            scale[i] = 1000.0
        elif name.startswith("turnover_"):
            scale[i] = 0.1
        elif name == "warm_minutes":
            scale[i] = 1.0 / 1440.0  # days; clipped at OBS_CLIP days
    return scale


_SCALE = _scales()


def feature_observation(features: np.ndarray) -> np.ndarray:
    """Policy input columns from live features [..., F] (FEATURE_NAMES order): selected,
    scaled, NaN -> 0, clipped to +-OBS_CLIP, float32. Live and training both call this."""
    picked = np.asarray(features, np.float64)[..., _OBS_INDEX] * _SCALE
    return np.clip(np.nan_to_num(picked, nan=0.0, posinf=OBS_CLIP, neginf=-OBS_CLIP),
                   -OBS_CLIP, OBS_CLIP).astype(np.float32)


# -- observation: account state -------------------------------------------------------------
STATE_FEATURES: tuple[str, ...] = (
    "position_share",  # position value / equity, in [0, 1] (spot long-only)
    "log_equity",  # log(equity / starting capital) of the episode
    "entry_return_pct",  # equity change since the current position was opened, percent
    "unrealized_pct",  # (close / average entry cost - 1), percent; 0 when flat
    "has_buy",  # a buy order is resting
    "has_sell",  # a sell order is resting
    "order_distance_pct",  # (order limit / close - 1) in percent; 0 without an order
    "order_filled_share",  # share of the resting order already filled
    "time_left",  # share of the episode horizon still ahead, 1 -> 0
)
