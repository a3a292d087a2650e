"""A market-model bar's volume: the size of its move that volume answers, and the volume,
quote volume and trade count it prints.

Why apart from exchange/sim/market_model.py: these are the volume mechanism's fixed rules
(the cap on the move volume answers, the Student-t centering of that move, the lot grid and
the trade count), plain functions of arrays with no random draws and no carried state;
the model keeps the parts it shares with the rest of the bar (the activity's AR(1), the
links to the volatility state).
"""

from __future__ import annotations

import math

import numpy as np

from exchange.sim.ticks import floor_to_grid
from model import libm

MAX_SHOCK_FOR_VOLUME = 8.0  # |standardized shock| beyond this adds no more volume
TRADES_PER_LEVEL = 40.0  # a minute of average quote volume is ~40 trades


def student_abs_mean(df: np.ndarray) -> np.ndarray:
    """E|x| of a unit-variance Student-t with `df` degrees of freedom."""
    df = np.asarray(df, float)
    log_ratio = np.array([math.lgamma((d + 1) / 2) - math.lgamma(d / 2) for d in df.ravel()])
    raw = 2 * np.sqrt(df) * libm.exp(log_ratio.reshape(df.shape)) / (math.sqrt(math.pi) * (df - 1))
    return raw * np.sqrt((df - 2) / df)


def move_in_sigmas(factor_move: np.ndarray, sigma: np.ndarray, shock: np.ndarray,
                   jump: np.ndarray) -> np.ndarray:
    """The bar's whole move (the market factor's part `factor_move`, the coin's own
    standardized `shock` and its `jump`) in units of the coin's `sigma`, capped at
    MAX_SHOCK_FOR_VOLUME: the |move| volume's shock link answers."""
    return np.minimum(np.abs(factor_move / sigma + shock) + np.abs(jump) / sigma,
                      MAX_SHOCK_FOR_VOLUME)


def bar_volumes(log_volume: np.ndarray, columns: dict[str, np.ndarray], lot: np.ndarray,
                traded: np.ndarray, volume_base: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bars' volume on the lot grid (exp(`log_volume`) of quote volume at the bar's
    typical price, at least one lot), its quote volume and its trade count (one plus one
    per 1 / TRADES_PER_LEVEL of the coin's level `exp(volume_base)`); 0 where nothing
    traded. `columns` holds the bars' open, high, low and close."""
    typical = (columns["open"] + columns["high"] + columns["low"] + columns["close"]) / 4
    volume = np.maximum(floor_to_grid(libm.exp(log_volume) / typical, lot), lot)
    volume = np.where(traded, volume, 0.0)
    quote_volume = volume * typical
    level = libm.exp(volume_base)
    trades = np.where(traded, 1 + np.floor(quote_volume / (level / TRADES_PER_LEVEL)),
                      0).astype(np.int64)
    return volume, quote_volume, trades
