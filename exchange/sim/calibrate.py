"""Fit `MarketParams` to real 1m bars: moments first, then simulate-and-correct.

`fit(panel)` starts from direct moment estimates per coin: hourly return variance for the
volatility level (bounce-free), Roll for the half-spread, the no-trade and zero-return
shares, volume level and persistence, jumps (1m returns beyond 15 robust sigmas), the
hour-of-day volume and variance profiles, and betas and the factor's size from the pairwise
correlations of hourly returns (these estimates: exchange/sim/calibrate_moments.py).
Several statistics are no single parameter, so it then simulates a panel of the same shape
(same seed every round: deterministic) and moves each parameter by the ratio of the real
statistic to the simulated one (the median over coins for per-coin ones), a few rounds:
  Roll spread -> half-spread       hourly variance -> vol level    no-trade share -> its odds
  zero-return share -> refresh     Hill tail index -> log-vol variance (fast + slow)
  ACF|r| lag 60 / lag 1 -> slow share, lag 15 / lag 1 -> fast half-life,
  lag 1 -> activity's link to the volatility state (quiet minutes cluster in calm spells)
  Spearman(volume, |r|) -> volume's links    cross-coin corr 1h -> factor size, 1m -> lag
  variance ratio 1h / (60 x 1m) -> the transient pricing error's size (more error, more
  1m variance that reverts within the hour)
  peakedness of standardized 1h returns -> the calm/turbulent volatility ratio (1m bars
  only; `exchange.sim.regime_fit`): the market-wide scale mixture that gives real hourly
  returns their excess kurtosis
Each round's simulated statistics are the mean over `FIT_SEEDS` seeds: one simulated month
is a noisy draw (its variance ratio moves +-0.03 with the seed), and a fit that matches one
seed exactly lands the others off by that much.

Fixed, not fitted (ten days of bars cannot identify them): the shocks' tail (Student-t with
30 degrees of freedom: the tails come from the volatility state and jumps), the slow
component's half-life (12 h), the activity slope of the no-trade and refresh odds (2 per unit
log activity) and the regimes' mean durations (12 h calm, 4 h turbulent; their volatility
ratio is fitted, see above).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from exchange.sim import market_halts
from exchange.sim.calibrate_moments import (
    bars_per_long_period,
    coin_moments,
    hour_profiles,
    jumps,
    long_returns,
    one_factor,
    traded_and_listed,
    volume_moments,
    winsorized,
)
from exchange.sim.market_model import MarketModel
from exchange.sim.market_params import MarketParams
from exchange.sim.regime_fit import corrected_multipliers
from exchange.sim.stylized_facts import (
    Panel,
    StylizedFacts,
    carried_log_close,
    mean_facts,
    stylized_facts,
)
from model import errors, libm
from model.market import MINUTE_MS

MIN_MINUTES = 2 * 1440  # less than two days cannot say anything about an hour profile
MIN_BARS_PER_COIN = 1000
ROUNDS = 10
#: Simulations `entasis sim calibrate` lets the 1h refinement run by default
#: (exchange/sim/calibrate_refine.py; most of the gain on Binance 2018-19 came by 300-600).
REFINE_EVALUATIONS_1H = 600
FIT_SEEDS = 3  # seeds per round whose simulated statistics are averaged
SLOW_HALF_LIFE_MIN = 720.0
#: On 1h bars the |r| autocorrelation lasts weeks (0.09-0.12 at lag 60 h on Binance 2018-22):
#: the slow component's half-life is 10 days there.
SLOW_HALF_LIFE_MIN_1H_BARS = 14_400.0
#: Below this share of zero-return bars a market shows no quiet spells to cluster, so
#: activity's link to the volatility state is not fitted (it decays to 0): otherwise it
#: would make the quiet bars such a market lacks (1h bars of liquid pairs: 1.5 %).
QUIET_MARKET_ZERO_SHARE = 0.05
#: Volume's links to volatility and |shock| stop here: beyond, a few bars hold astronomic
#: volume (e^(2 x 8) at an 8-sigma shock) and swamp the hour profile. Bittrex 1m fits use
#: 0.05-0.2; Binance 1h fits run into it (their |r| is mostly the market factor's, which
#: the links do not see).
MAX_VOLUME_LINK = 2.0
VOLUME_VOL_LINK = 1.0  # the starting point: volume proportional to volatility
ACTIVITY_SLOPE = 2.0
SHOCK_TAIL_DF = 30.0  # near-Gaussian shocks: the tails come from the volatility state, jumps
_STEP = (0.7, 1.4)  # one round moves a parameter by at most this factor
MAX_LOG_VOL_VAR = 1.5  # per component: beyond it activity saturates and the fit runs off
#: Beyond this the no-trade and quote-refresh odds saturate (quiet in every calm spell): the
#: lag-1 |r| autocorrelation stops rising and the no-trade share runs off instead.
MAX_ACTIVITY_VOL_LINK = 4.0
#: The fast log-vol component's shortest half-life, in bars: a shorter one is white noise
#: that makes fat tails but no clustering.
MIN_FAST_HALF_LIFE = 1.0
TRANSIENT_HALF_LIFE_MIN = 0.6  # the pricing error is mostly gone a minute later
TRANSIENT_START = 0.5  # its innovation's sd / sigma_t before the corrections
RUN_ON_START = 0.05  # 1h fits: the bridge's run-on before the refinement moves it (ADR-110)
#: The regimes' mean durations (calm, turbulent) in bars: turbulent a quarter of the time,
#: a spell every 16 h on average, so ten days hold ~15 turbulent spells (the earlier 36 h
#: and 12 h held ~5, and a fit with them let the hourly statistics swing with the seed's
#: few spells), and the regime's |r| autocorrelation (time constant 3 h) is nearly flat
#: over the 60 lags. Chosen among 36/12, 12/4 and 6/2 h by the sim report on both Bittrex
#: months (6/2 h lost the lag-1 |r| autocorrelation of the 2017-11 fit).
REGIME_MEAN_MINUTES = (720.0, 240.0)


class CalibrationError(errors.DataError, ValueError):
    """Bars that cannot be calibrated on; the message names the coin and what is missing."""


def fit(panel: Panel, *, rounds: int = ROUNDS, seed: int = 0, seeds: int = FIT_SEEDS,
        source: str = "") -> MarketParams:
    """MarketParams for the market of `panel` (1m bars, NaN = no trade, quote volume).
    Per-coin parameters keep their direct estimates' differences between coins; the
    corrections are common factors (median over coins of real / simulated), against the
    mean of `seeds` simulations (seeds `seed`, `seed` + 1, ...) each round. A fit on 1h
    bars keeps the earlier procedure (one seed; see `_fast_decay`): the averaging and the
    regimes were measured on Bittrex 1m months only."""
    check_panel(panel)
    seeds = seeds if panel.bar_ms == MINUTE_MS else 1
    target = stylized_facts(panel)
    target_coins = coin_moments(panel)
    params = initial_params(panel, target, source)
    for _ in range(rounds):
        facts, moments = simulated_statistics(params, panel, seed=seed, seeds=seeds)
        params = corrected(params, target, target_coins, facts, moments)
    return params


def simulated_statistics(params: MarketParams, panel: Panel, *, seed: int, seeds: int
                         ) -> tuple[StylizedFacts, dict[str, np.ndarray]]:
    """The stylized facts and coin moments of `seeds` simulated panels shaped like `panel`,
    averaged (each panel is measured and dropped before the next is made)."""
    facts, moments = [], []
    for offset in range(max(seeds, 1)):
        simulated = simulate_panel(params, minutes=panel.minutes, start_ms=panel.start_ms,
                                   seed=seed + offset)
        facts.append(stylized_facts(simulated))
        moments.append(coin_moments(simulated))
        del simulated
    return mean_facts(facts), {key: np.mean([m[key] for m in moments], axis=0)
                               for key in moments[0]}


def check_panel(panel: Panel) -> None:
    """Refuse too little data, a coin with too few bars, constant prices or no volume."""
    if panel.minutes * panel.bar_ms < MIN_MINUTES * MINUTE_MS:
        raise CalibrationError(f"{panel.minutes} bars of {panel.bar_ms // MINUTE_MS} minutes; "
                               f"calibration needs at least two days of bars ({MIN_MINUTES} "
                               "1m bars)")
    names = panel.symbols or tuple(f"coin {i}" for i in range(panel.coins))
    for i, name in enumerate(names):
        close, volume = panel.close[:, i], panel.volume[:, i]
        bars = int(np.isfinite(close).sum())
        if bars < MIN_BARS_PER_COIN:
            raise CalibrationError(f"{name}: {bars} bars; each coin needs at least "
                                   f"{MIN_BARS_PER_COIN} 1m bars (remove its file)")
        if np.nanmax(close) == np.nanmin(close):
            raise CalibrationError(f"{name}: constant price {np.nanmax(close)}; a coin whose "
                                   "price never moves says nothing about volatility")
        if not np.nansum(volume) > 0:
            raise CalibrationError(f"{name}: no volume in any bar; the volume model needs it")


def initial_params(panel: Panel, facts: StylizedFacts, source: str) -> MarketParams:
    """Direct moment estimates, the starting point of the corrections."""
    coins, moments = panel.coins, coin_moments(panel)
    last = carried_log_close(panel.close)
    hourly = winsorized(long_returns(panel, last))
    bars = bars_per_long_period(panel)
    beta, factor_var_1h = one_factor(hourly)
    factor_vol = math.sqrt(factor_var_1h / bars)
    vol = np.sqrt(np.maximum(moments["hourly_var"] / bars - beta**2 * factor_vol**2,
                             0.1 * moments["hourly_var"] / bars))
    bar_minutes = panel.bar_ms // MINUTE_MS
    returns = np.diff(last, axis=0)
    jump_prob, jump_size = jumps(returns)
    traded_zero = (moments["zero"] - moments["no_trade"]) / np.maximum(1 - moments["no_trade"],
                                                                        0.05)
    halts = (market_halts.estimate(*traded_and_listed(panel)) if bar_minutes > 1
             else market_halts.Halts(0.0, 1.0))  # 1m: see market_halts
    refresh = np.clip(1 - traded_zero, 0.05, 1.0)  # a quiet minute repeats the last price
    volume_level, persistence, noise = volume_moments(panel, moments)
    tail_df = SHOCK_TAIL_DF
    profile_volume, profile_vol = hour_profiles(panel, returns)
    return MarketParams(
        symbols=tuple(panel.symbols or (f"COIN{i}" for i in range(coins))),
        vol_per_min=_tuple(np.clip(vol, 1e-6, 0.5)), tail_df=(tail_df,) * coins,
        jump_prob=_tuple(jump_prob), jump_size=_tuple(jump_size),
        half_spread_bps=_tuple(np.clip(moments["half_spread"] * 1e4, 0.0, 500.0)),
        quote_refresh_prob=_tuple(refresh),
        no_trade_prob=_tuple(np.clip(moments["own_no_trade"], 0.0, 0.9)),
        volume_level=_tuple(volume_level), volume_persistence=_tuple(persistence),
        volume_noise=_tuple(noise), volume_shock_link=(0.3,) * coins, beta=_tuple(beta),
        vol_fast_var=0.3, vol_fast_persistence=math.exp(-1 / 10),
        vol_slow_var=0.3, vol_slow_persistence=_persistence(
            (SLOW_HALF_LIFE_MIN if bar_minutes == 1 else SLOW_HALF_LIFE_MIN_1H_BARS)
            / bar_minutes),
        volume_vol_link=VOLUME_VOL_LINK, activity_vol_link=1.0,
        no_trade_activity_slope=ACTIVITY_SLOPE,
        factor_vol_per_min=factor_vol, factor_lag_min=10.0,
        hour_volume_profile=_tuple(profile_volume), hour_vol_profile=_tuple(profile_vol),
        regime_vol_multiplier=(1.0, 1.0), regime_mean_minutes=REGIME_MEAN_MINUTES,
        transient_vol_ratio=TRANSIENT_START,
        transient_persistence=_persistence(TRANSIENT_HALF_LIFE_MIN / bar_minutes),
        bar_minutes=float(bar_minutes), range_bridge=0.0 if bar_minutes == 1 else 1.0,
        range_run_on=0.0 if bar_minutes == 1 else RUN_ON_START,
        halt_share=halts.share, halt_mean_bars=halts.mean_bars, source=source)


def corrected(params: MarketParams, target: StylizedFacts, target_coins: dict[str, np.ndarray],
              simulated: StylizedFacts, simulated_coins: dict[str, np.ndarray]) -> MarketParams:
    """One round: move each parameter by the ratio of its real statistic to the simulated."""
    t, s, tc, sc = target, simulated, target_coins, simulated_coins
    no_trade = np.clip(np.asarray(params.no_trade_prob), 1e-4, 0.9)
    difference = _logit(tc["own_no_trade"]) - _logit(sc["own_no_trade"])
    # 1m: one shift for all coins; 1h: each coin its own, as the quiet hours outside halts
    # are a few coins' (most have none), and the activity multiplies those coins' odds
    # several times over, which a median over coins without any would never correct
    logit = libm.log(no_trade / (1 - no_trade)) + (
        difference if params.bar_minutes > 1 else float(np.median(difference)))
    stale = (1 - np.asarray(params.quote_refresh_prob)) * _ratios(tc["zero"], sc["zero"])
    spearman = _ratio(t.volume_abs_return_spearman, s.volume_abs_return_spearman)
    jump_prob = np.asarray(params.jump_prob)
    if t.zero_return_share < QUIET_MARKET_ZERO_SHARE:  # the tails from the jumps' rate
        jump_prob = np.clip(jump_prob * _ratio(s.hill_tail_index, t.hill_tail_index) ** 4,
                            0.0, 0.05)
    moved = replace(
        params, jump_prob=_tuple(jump_prob),
        vol_per_min=_tuple(np.clip(np.asarray(params.vol_per_min) * np.sqrt(
            _ratios(tc["hourly_var"], sc["hourly_var"])), 1e-6, 0.5)),
        half_spread_bps=_tuple(np.clip(np.asarray(params.half_spread_bps)
                                       * _ratios(tc["half_spread"], sc["half_spread"]), 0, 500)),
        no_trade_prob=_tuple(np.where(tc["own_no_trade"] > 0, 1 / (1 + libm.exp(-logit)),
                                      0.0)),
        quote_refresh_prob=_tuple(np.clip(1 - stale, 0.05, 1.0)),
        volume_shock_link=_tuple(np.clip(np.asarray(params.volume_shock_link) * spearman,
                                         0.0, MAX_VOLUME_LINK)),
        volume_vol_link=min(params.volume_vol_link * spearman, MAX_VOLUME_LINK),
        factor_vol_per_min=min(params.factor_vol_per_min * math.sqrt(
            _ratio(t.cross_coin_corr_1h, s.cross_coin_corr_1h)), 0.5),
        factor_lag_min=min(max(params.factor_lag_min, 0.5) * _ratio(
            s.cross_coin_corr_1m, t.cross_coin_corr_1m), 600.0),
        transient_vol_ratio=min(max(params.transient_vol_ratio, 0.01) * _ratio(
            s.variance_ratio_1h, t.variance_ratio_1h) ** 2, 5.0),
        regime_vol_multiplier=corrected_multipliers(
            params.regime_vol_multiplier, params.regime_mean_minutes, t.standardized_1h,
            s.standardized_1h) if params.bar_minutes == 1 else params.regime_vol_multiplier,
    )  # on 1h bars the regimes are left alone: there "1h" means daily returns
    return _volatility_state(moved, t, s)


def _volatility_state(params: MarketParams, target: StylizedFacts, simulated: StylizedFacts
                      ) -> MarketParams:
    """The log-volatility state's size from the tails (Hill: more state variance, fatter
    tails), its split between fast and slow from how the |r| autocorrelation decays (lag 60
    over lag 1, lag 15 over lag 1), and the activity's link to it from the lag-1 |r|
    autocorrelation (quiet minutes cluster where the state is low)."""
    acf_t, acf_s = target.abs_return_acf, simulated.abs_return_acf
    if not (acf_t[0] > 0 and acf_s[0] > 0):
        return params
    total = params.vol_fast_var + params.vol_slow_var
    if target.zero_return_share >= QUIET_MARKET_ZERO_SHARE:
        total *= _ratio(simulated.hill_tail_index, target.hill_tail_index) ** 2
    else:  # no quiet spells to carry the |r| clustering: the state's size carries it, and
        # the jumps the tails (see `corrected`)
        total *= _ratio(acf_t[0], acf_s[0]) ** 2
    slow_share = params.vol_slow_var / max(params.vol_fast_var + params.vol_slow_var, 1e-9)
    slow_share = float(np.clip(slow_share * _ratio(acf_t[59] / acf_t[0], acf_s[59] / acf_s[0]),
                               0.05, 0.95))
    fast_half_life = -math.log(2) / math.log(params.vol_fast_persistence)
    if params.bar_minutes == 1:
        shape = _ratio(_fast_decay(acf_t), _fast_decay(acf_s))
    else:  # 1h bars: the earlier lag 15 / lag 1, not yet measured on binance_1h
        shape = _ratio(acf_t[14] / acf_t[0], acf_s[14] / acf_s[0])
    total = float(np.clip(total, 0.01, 2 * MAX_LOG_VOL_VAR))
    return replace(params, vol_fast_var=total * (1 - slow_share),
                   vol_slow_var=total * slow_share,
                   vol_fast_persistence=_persistence(float(np.clip(
                       fast_half_life * shape**2, _min_fast_half_life(params), 240.0))),
                   activity_vol_link=_activity_link(params.activity_vol_link, target,
                                                    simulated))


def _min_fast_half_life(params: MarketParams) -> float:
    """The fast half-life's floor, in bars: one bar on 1m fits (MIN_FAST_HALF_LIFE); on 1h
    fits `_persistence`'s own floor, 0.1, which the earlier procedure had (not re-measured)."""
    return MIN_FAST_HALF_LIFE if params.bar_minutes == 1 else 0.1


def _fast_decay(acf: np.ndarray) -> float:
    """How much of the |r| autocorrelation above its lag-60 floor is left at lag 15: the
    fast component's decay. The floor (the slow component's and the regimes' share, nearly
    flat over an hour) is taken out first: a plain lag 15 / lag 1 read it as a fast
    component that never decays, and with the regimes fitted the fast half-life collapsed
    to white noise (lag-1 |r| autocorrelation 0.11 where real 1m bars show 0.28-0.31)."""
    above = acf[0] - acf[59]
    return float((acf[14] - acf[59]) / above) if above > 0 else float("nan")


def _activity_link(link: float, target: StylizedFacts, simulated: StylizedFacts) -> float:
    """Activity's link to the volatility state, from the lag-1 |r| autocorrelation where the
    market has quiet spells; where it has none, it decays to 0 (QUIET_MARKET_ZERO_SHARE)."""
    if not target.zero_return_share >= QUIET_MARKET_ZERO_SHARE:
        return link * _STEP[0] if link > 0.01 else 0.0
    return min(link * _ratio(target.abs_return_acf[0], simulated.abs_return_acf[0]),
               MAX_ACTIVITY_VOL_LINK)


def simulate_panel(params: MarketParams, *, minutes: int, start_ms: int, seed: int,
                   coins: int | None = None) -> Panel:
    """A panel of the model's bars (price level 1, a negligible tick), as real bars come:
    NaN where a coin did not trade, quote volume; `minutes` bars of the params' length."""
    n = params.coins if coins is None else coins
    model = MarketModel(params, seed=seed, tick=np.full(n, 1e-10), lot=np.full(n, 1e-10),
                        price=np.ones(n), quote_volume_per_min=np.ones(n), start_ms=start_ms)
    bars = model.generate(minutes)
    hidden = ~bars.traded
    fields = {name: np.where(hidden, np.nan, bars.columns[name])
              for name in ("open", "high", "low", "close")}
    return Panel(start_ms=start_ms, volume=np.where(hidden, np.nan, bars.columns["quote_volume"]),
                 symbols=tuple(params.symbols[i % params.coins] for i in range(n)),
                 bar_ms=model.bar_ms, **fields)


def _persistence(half_life_min: float) -> float:
    return math.exp(-math.log(2) / max(half_life_min, 0.1))


def _ratio(target: float, simulated: float) -> float:
    """target / simulated, kept inside one round's step; 1 when either is not positive."""
    if not (np.isfinite(target) and np.isfinite(simulated)) or target <= 0 or simulated <= 0:
        return 1.0
    return float(np.clip(target / simulated, *_STEP))


def _ratios(target: np.ndarray, simulated: np.ndarray) -> float:
    """The median over coins of target / simulated, kept inside one round's step: one
    coin's simulated statistic is one noisy draw, the median over coins is not."""
    usable = (target > 0) & (simulated > 0) & np.isfinite(target) & np.isfinite(simulated)
    if not usable.any():
        return 1.0
    return float(np.clip(np.median(target[usable] / simulated[usable]), *_STEP))


def _logit(share: np.ndarray) -> np.ndarray:
    share = np.clip(share, 1e-4, 0.9)
    return libm.log(share / (1 - share))


def _tuple(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(f"{v:.6g}") for v in np.asarray(values, float))  # a small file
