"""The direct moment estimates of a panel of bars that `calibrate.fit` starts from and steers by.

Why apart from exchange/sim/calibrate.py: these are plain statistics of bars, real or
simulated (no parameters, no simulation): the per-coin moments each round compares
(`coin_moments`), and the one-factor, jump, volume and hour-profile estimates
`calibrate.initial_params` turns into the first `MarketParams`. The fit itself (the rounds
of simulate-and-correct, the input checks, the result's assembly) stays in calibrate.py.
"""

from __future__ import annotations

import math

import numpy as np

from exchange.sim import market_halts
from exchange.sim.market_params import HOURS
from exchange.sim.stylized_facts import (
    PERIODS_BY_BAR,
    Panel,
    autocorrelation,
    carried_log_close,
    pearson,
)
from model import libm
from model.market import MINUTE_MS
from model.spread_estimators import roll_spread
from model.timeframes import HOUR_MS

JUMP_THRESHOLD = 15.0  # a 1m return beyond this many robust sigmas counts as a jump


def traded_and_listed(panel: Panel) -> tuple[np.ndarray, np.ndarray]:
    """[T, N]: whether each coin traded in each bar, and whether the bar is within the
    coin's span (from its first trade to its last)."""
    traded = np.isfinite(panel.close) & (np.nan_to_num(panel.volume) > 0)
    rows = np.arange(panel.minutes)[:, None]
    first = np.where(traded, rows, panel.minutes).min(axis=0)
    final = np.where(traded, rows, -1).max(axis=0)
    return traded, (rows >= first) & (rows <= final)


def coin_moments(panel: Panel) -> dict[str, np.ndarray]:
    """Per coin: no-trade share, zero-return share, Roll half-spread (fraction), hourly
    return variance and the log-volume deviation's lag-1 and lag-10 autocorrelation."""
    last = carried_log_close(panel.close)
    returns = np.diff(last, axis=0)
    traded, span = traded_and_listed(panel)
    no_trade = ((~traded) & span).sum(axis=0) / span.sum(axis=0)
    # each coin's own quiet bars, the market's halts left out (1h fits model them apart)
    own = span
    if panel.bar_ms > MINUTE_MS:
        own = span & ~market_halts.halted_bars(traded, span)[:, None]
    own_no_trade = ((~traded) & own).sum(axis=0) / np.maximum(own.sum(axis=0), 1)
    finite = np.isfinite(returns)
    zero = ((returns == 0) & finite).sum(axis=0) / np.maximum(finite.sum(axis=0), 1)
    half_spread = np.array([roll_spread(panel.close[:, i]) / 2 for i in range(panel.coins)])
    hourly = winsorized(long_returns(panel, last))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_volume = libm.log(np.where(traded, panel.volume, np.nan))
    deviation = log_volume - np.nanmean(log_volume, axis=0)
    return {"no_trade": no_trade, "own_no_trade": own_no_trade, "zero": zero,
            "half_spread": np.nan_to_num(half_spread),
            "hourly_var": np.nanvar(hourly, axis=0, ddof=1),
            "volume_acf1": autocorrelation(deviation, 1),
            "volume_acf10": autocorrelation(deviation, 10),
            "log_volume_var": np.nanvar(deviation, axis=0)}


def one_factor(hourly: np.ndarray) -> tuple[np.ndarray, float]:
    """Betas (median 1) and the factor's hourly variance from the pairwise correlations of
    hourly returns, rho_ij ~ lambda_i lambda_j: scale-free, so one wild coin cannot make the
    factor; one coin (or no positive correlation): beta 1, no factor."""
    coins = hourly.shape[1]
    sd = np.nanstd(hourly, axis=0, ddof=1)
    if coins < 2:
        return np.ones(coins), 0.0
    rho = np.full((coins, coins), np.nan)
    for i in range(coins):
        for j in range(i + 1, coins):
            both = np.isfinite(hourly[:, i]) & np.isfinite(hourly[:, j])
            if both.sum() > 3 and hourly[both, i].std() > 0 and hourly[both, j].std() > 0:
                rho[i, j] = rho[j, i] = pearson(hourly[both, i], hourly[both, j])
    mean_rho = float(np.nanmean(rho)) if np.isfinite(rho).any() else 0.0
    if mean_rho <= 0:
        return np.ones(coins), 0.0
    loading = np.clip(np.nan_to_num(np.nanmean(rho, axis=1)) / math.sqrt(mean_rho), 0, 1)
    exposure = loading * sd  # beta_i x factor sd, hourly
    scale = float(np.median(exposure[exposure > 0])) if (exposure > 0).any() else 0.0
    if scale <= 0:
        return np.ones(coins), 0.0
    return np.clip(exposure / scale, 0.0, 5.0), scale**2


def jumps(returns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per coin: the share of 1m returns beyond JUMP_THRESHOLD robust sigmas, and their RMS."""
    prob, size = np.zeros(returns.shape[1]), np.zeros(returns.shape[1])
    for i in range(returns.shape[1]):
        values = returns[np.isfinite(returns[:, i]) & (returns[:, i] != 0), i]
        if values.size < 10:
            continue
        sigma = 1.4826 * np.median(np.abs(values - np.median(values)))
        big = values[np.abs(values) > JUMP_THRESHOLD * sigma]
        if big.size:
            prob[i] = min(big.size / returns.shape[0], 0.01)
            size[i] = min(float(np.sqrt(np.mean(big**2))), 0.5)
    return prob, size


def volume_moments(panel: Panel, moments: dict[str, np.ndarray]
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per coin: volume level relative to the median coin, log volume's AR(1) coefficient
    (from the lag-10 / lag-1 autocorrelation ratio) and its innovation sd."""
    traded = np.isfinite(panel.close) & (np.nan_to_num(panel.volume) > 0)
    with np.errstate(divide="ignore"):
        log_volume = np.where(traded, libm.log(np.where(traded, panel.volume, 1.0)), np.nan)
    level = np.nanmean(log_volume, axis=0)
    relative = np.clip(libm.exp(level - np.median(level)), 1e-6, 1e6)
    acf1 = np.clip(np.nan_to_num(moments["volume_acf1"], nan=0.3), 0.05, 0.95)
    acf10 = np.clip(np.nan_to_num(moments["volume_acf10"], nan=0.1), 0.01, 0.95)
    persistence = np.clip((np.minimum(acf10, acf1) / acf1) ** (1 / 9), 0.5, 0.999)
    share = np.clip(acf1 / persistence, 0.05, 0.95)
    variance = np.nan_to_num(moments["log_volume_var"], nan=1.0) * share
    noise = np.sqrt(np.maximum(variance * (1 - persistence**2), 1e-6))
    return relative, persistence, np.clip(noise, 1e-3, 5.0)


def hour_profiles(panel: Panel, returns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Volume and return variance by UTC hour, each coin scaled to its own mean, averaged
    over coins and scaled to mean 1 (an hour without data: 1)."""
    hour = ((panel.start_ms + panel.bar_ms * np.arange(panel.minutes)) // HOUR_MS) % HOURS
    volume = np.nan_to_num(panel.volume)
    volume = volume / np.maximum(volume.mean(axis=0), 1e-300)
    squares = np.minimum(returns**2, np.nanquantile(returns**2, 0.999, axis=0))
    squares = squares / np.maximum(np.nanmean(squares, axis=0), 1e-300)
    profiles = []
    for values, hours in ((volume, hour), (squares, hour[1:])):
        by_hour = np.array([np.nanmean(values[hours == h]) if (hours == h).any() else np.nan
                            for h in range(HOURS)])
        by_hour = np.where(np.isfinite(by_hour) & (by_hour > 0), by_hour, np.nanmean(by_hour))
        profiles.append(np.clip(by_hour / by_hour.mean(), 0.05, 20.0))
    return profiles[0], profiles[1]


def long_returns(panel: Panel, last: np.ndarray) -> np.ndarray:
    """Returns over the panel's long period (UTC hours of 1m bars, days of 1h bars)."""
    long_ms = PERIODS_BY_BAR[panel.bar_ms][0]
    closes_at = panel.start_ms + panel.bar_ms * (np.arange(panel.minutes) + 1)
    return np.diff(last[np.flatnonzero(closes_at % long_ms == 0)], axis=0)


def bars_per_long_period(panel: Panel) -> int:
    return PERIODS_BY_BAR[panel.bar_ms][0] // panel.bar_ms


def winsorized(values: np.ndarray, share: float = 0.005) -> np.ndarray:
    """Per column, values clipped to their `share` and 1 - `share` quantiles (NaN kept)."""
    with np.errstate(all="ignore"):
        low = np.nanquantile(values, share, axis=0)
        high = np.nanquantile(values, 1 - share, axis=0)
    return np.clip(values, low, high)
