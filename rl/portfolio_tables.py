"""The arrays a `PortfolioEnv` builds once from its market and settings, for the compiled step
(rl/portfolio_kernel.py) and the observation: which coins the account may trade, the risk
gate's return history, the cross-sectional z-scores of the feature columns, and the
kernel's float and integer knob vectors.

Why separate: these are pure functions of the grid, the market and the settings, computed
before any episode and never touched while stepping; rl/portfolio_env.py keeps the
account state and the episode loop. The live observation (rl/portfolio_live_obs.py) uses
`cross_section_z` too, so it reads it from here rather than from the env.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from model import libm
from rl import portfolio_kernel as kernel
from rl.spaces import OBS_CLIP
from trading.fast_market import FastMarket, FastSettings


def dominant_quote_mask(market: FastMarket) -> np.ndarray:
    """Coins quoted in the grid's most common quote asset: one account holds one currency."""
    quotes = [i.quote for i in market.instruments]
    dominant = max(sorted(set(quotes)), key=quotes.count)
    return np.array([q == dominant for q in quotes])


def history_returns(close_ff: np.ndarray, has_bar: np.ndarray, history_rows: int
                     ) -> np.ndarray:
    """The gate's return history as the fast backtester builds it (`_Loop._returns`):
    simple returns of the forward-filled closes, unknown at or before a coin's first bar,
    behind `history_rows` unknown rows (the kernel's windows may start before row 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        log_returns = libm.log(close_ff[1:] / close_ff[:-1])
    log_returns = np.vstack([np.zeros((1, close_ff.shape[1])), log_returns])
    simple = libm.expm1(np.where(np.isfinite(log_returns), log_returns, 0.0))
    length = close_ff.shape[0]
    first_bar = np.where(has_bar.any(axis=0), has_bar.argmax(axis=0), length)
    rows = np.arange(length)[:, None]
    simple = np.where((rows > first_bar[None, :]) & (rows >= 1), simple, np.nan)
    return np.ascontiguousarray(np.vstack([np.full((history_rows, close_ff.shape[1]), np.nan),
                                           simple]))


def cross_section_z(columns: np.ndarray, has_bar: np.ndarray) -> np.ndarray:
    """Each feature's z-score across the coins with a bar in the same row ([T, N, F]),
    clipped like the features; 0 where a row has fewer than two such coins or no spread."""
    valid = has_bar[:, :, None]
    count = valid.sum(axis=1, keepdims=True)
    values = np.where(valid, columns.astype(np.float64), 0.0)
    mean = values.sum(axis=1, keepdims=True) / np.maximum(count, 1)
    centered = np.where(valid, values - mean, 0.0)
    std = np.sqrt((centered ** 2).sum(axis=1, keepdims=True) / np.maximum(count - 1, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where((count >= 2) & (std > 0), centered / std, 0.0)
    return np.clip(z, -OBS_CLIP, OBS_CLIP).astype(np.float32)


def kernel_knobs(settings: FastSettings, *, stop_pct: float, drawdown_penalty: float,
                 reward_scale: float, ruin_fraction: float) -> np.ndarray:
    """The kernel's float knobs (`rl.portfolio_kernel.K_*`): the settings' fills, fees and
    risk limits, and the env's sizing and reward knobs (`PortfolioConfig`'s fields of the
    same names)."""
    p, limits = settings.fill_params, settings.limits
    knobs = np.zeros(kernel.N_KNOBS)
    period_days = settings.bar_ms / 86_400_000
    values = {
        kernel.K_MAX_VOLUME_SHARE: p.max_volume_share,
        kernel.K_THROUGH_VOLUME_SHARE: p.through_volume_share,
        kernel.K_MAKER_BPS: p.maker_fee_bps, kernel.K_TAKER_BPS: p.taker_fee_bps,
        kernel.K_GROWTH: p.book_level_growth, kernel.K_SPREAD_TICKS: float(p.bar_spread_ticks),
        kernel.K_BOOK_SHARE: float(p.bar_book_share),
        kernel.K_RISK_PCT: float(limits.risk_per_trade_pct),
        kernel.K_MAX_POSITION_PCT: float(limits.max_position_pct),
        kernel.K_STOP_PCT: stop_pct,
        kernel.K_FEE_RESERVE_PCT: float(limits.fee_reserve_pct),
        kernel.K_VAR_LIMIT: float(limits.var_limit_pct) / 100.0,
        kernel.K_ES_LIMIT: float(limits.es_limit_pct) / 100.0,
        kernel.K_CONFIDENCE: limits.var_confidence,
        kernel.K_VAR_SCALE: float(np.sqrt(limits.var_horizon_days / period_days)),
        kernel.K_NORMAL_Z: NormalDist().inv_cdf(limits.var_confidence),
        kernel.K_PARAMETRIC: 1.0 if limits.var_method == "parametric" else 0.0,
        kernel.K_DAILY_REDUCE: float(limits.daily_loss_reduce_pct),
        kernel.K_DAILY_HALT: float(limits.daily_loss_halt_pct),
        kernel.K_DRAWDOWN_REDUCE: float(limits.drawdown_reduce_pct),
        kernel.K_DRAWDOWN_HALT: float(limits.drawdown_halt_pct),
        kernel.K_DRAWDOWN_PENALTY: drawdown_penalty,
        kernel.K_REWARD_SCALE: reward_scale, kernel.K_RUIN: ruin_fraction,
    }
    for index, value in values.items():
        knobs[index] = value
    return knobs


def kernel_counts(settings: FastSettings) -> np.ndarray:
    """The kernel's integer knobs (`rl.portfolio_kernel.C_*`)."""
    p = settings.fill_params
    counts = np.zeros(kernel.N_COUNTS, np.int64)
    counts[kernel.C_LEVELS], counts[kernel.C_SPACING] = p.book_levels, p.book_level_spacing_ticks
    counts[kernel.C_MAX_POSITIONS] = settings.limits.max_open_positions
    counts[kernel.C_HISTORY_ROWS] = settings.return_history_bars
    counts[kernel.C_MIN_OBSERVATIONS] = settings.limits.min_return_observations
    counts[kernel.C_BAR_MS] = settings.bar_ms
    return counts


__all__ = ["cross_section_z", "dominant_quote_mask", "history_returns", "kernel_counts",
           "kernel_knobs"]
