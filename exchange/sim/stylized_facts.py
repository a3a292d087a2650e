"""The stylized facts of a panel of 1m bars: what a simulated market must reproduce.

Issue 16's table, one function: `stylized_facts(panel)` measures bid-ask bounce (lag-1
autocorrelation, variance ratio, bar-implied spreads), volatility clustering (ACF of |r| at
lags 1..60), the volume-volatility link, cross-coin correlation at 1m and 1h, no-trade and
zero-return minutes, 4h reversal or momentum, the intraday volume profile and fat tails
(Hill). `exchange.sim.fact_gap` turns two panels' facts into the gap report. Pure numpy and
scipy, no I/O.

Conventions, stated once:
  * A coin's 1m return is the change of its last traded price (log close carried over
    minutes without a bar) from one minute to the next, from its first bar on: a no-trade
    minute is a zero return, as an observer of the price sees it. Hour and 4h returns are
    changes of that price between the last minutes of UTC hours (4h blocks).
  * Per-coin statistics are averaged over coins (a coin where one is undefined, e.g. a
    constant price, is left out); spreads take the median over coins, as the issue does.
  * Bars of another length (1h): the same statistics at the bar's length. The "1h" of a 1m
    panel becomes a day, and the 4h block a day as well: variance ratio 1d / (24 x 1h),
    cross-coin correlation 1h / 1d, lag-1 autocorrelation of daily returns
    (`PERIODS_BY_BAR`). The fields keep their 1m names; `bar_ms` says what they measure.
  * Standardized returns (Hill, KS) are each coin's non-zero returns minus their mean over
    their standard deviation, pooled over coins. Zero returns are left out: how often the
    price does not move is its own row (zero-return minutes), and its atom at 0, which
    differs with liquidity (30 % vs 18 % between two Bittrex months), would otherwise swamp
    the shape of the moves (KS 0.25 with it, 0.06 without, on those two months).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from model import libm
from model.market import MINUTE_MS
from model.spread_estimators import bar_spreads
from model.timeframes import HOUR_MS
from strategies.features_batch import MinuteGrid

MAX_ABS_LAG = 60  # ACF of |r| at lags 1..60 minutes
HILL_TAIL_SHARE = 0.01  # Hill's k: the largest 1 % of |standardized 1m moves|, pooled
HILL_MIN_TAIL = 10  # fewer order statistics than this: no Hill estimate (NaN)
FOUR_HOURS_MS = 4 * HOUR_MS
DAY_MS = 24 * HOUR_MS
#: bar length -> (the "long" period: variance ratio, cross-coin, KS; the "longer" one:
#: reversal or momentum), both in ms
PERIODS_BY_BAR: dict[int, tuple[int, int]] = {MINUTE_MS: (HOUR_MS, FOUR_HOURS_MS),
                                             HOUR_MS: (DAY_MS, DAY_MS)}


@dataclass(frozen=True, slots=True)
class Panel:
    """Bars of N coins on one grid: arrays [T, N], row t opens at `start_ms + t * bar_ms`
    (UTC; 1m bars unless `bar_ms` says 1h), NaN = no bar (no trade). `volume` is in any unit
    that is consistent within a coin (the loaders give quote volume)."""

    start_ms: int
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    symbols: tuple[str, ...] = ()
    bar_ms: int = MINUTE_MS

    def __post_init__(self) -> None:
        shapes = {name: np.shape(getattr(self, name))
                  for name in ("open", "high", "low", "close", "volume")}
        if len(set(shapes.values())) != 1 or len(shapes["close"]) != 2:
            raise ValueError(f"a Panel needs five arrays of one shape [minutes, coins]; got "
                             f"{shapes}")
        if self.bar_ms not in PERIODS_BY_BAR:
            raise ValueError(f"stylized facts are measured on 1m or 1h bars, not "
                             f"{self.bar_ms // MINUTE_MS}-minute bars")
        if self.start_ms % self.bar_ms:
            raise ValueError(f"start_ms {self.start_ms} is not on a bar boundary (multiple of "
                             f"{self.bar_ms})")

    @classmethod
    def from_grid(cls, grid: MinuteGrid) -> Panel:
        """A 1m or 1h grid from the loaders (`load_bar_grid`, `replay.load_grid`), its
        quote volume as the volume."""
        if grid.bar_ms not in PERIODS_BY_BAR:
            raise ValueError(f"stylized facts are measured on 1m or 1h bars; this grid's bars "
                             f"are {grid.bar_ms // MINUTE_MS} minutes long")
        return cls(start_ms=grid.start_ms, open=grid.open, high=grid.high, low=grid.low,
                   close=grid.close, volume=grid.quote_volume, symbols=tuple(grid.symbols),
                   bar_ms=grid.bar_ms)

    @property
    def minutes(self) -> int:
        return int(self.close.shape[0])

    @property
    def coins(self) -> int:
        return int(self.close.shape[1])

    def rows(self, start: int, stop: int) -> Panel:
        """The minutes `start` to `stop` (exclusive) of every coin."""
        return Panel(self.start_ms + start * self.bar_ms, self.open[start:stop],
                     self.high[start:stop], self.low[start:stop], self.close[start:stop],
                     self.volume[start:stop], self.symbols, self.bar_ms)

    def halves(self) -> tuple[Panel, Panel]:
        """The first and second half in time: one data set's own yardstick."""
        middle = self.minutes // 2
        return self.rows(0, middle), self.rows(middle, self.minutes)


@dataclass(frozen=True, slots=True)
class StylizedFacts:
    """A panel's facts; scalars are NaN where the panel is too small to say. The arrays
    (ACF by lag, hour profile, pooled standardized returns) feed the distances."""

    lag1_acf_1m: float
    variance_ratio_1h: float  # Var(1h return) / (60 x Var(1m return)); 1 for a random walk
    abs_return_acf: np.ndarray  # [MAX_ABS_LAG]: lags 1..60
    volume_abs_return_spearman: float
    cross_coin_corr_1m: float
    cross_coin_corr_1h: float
    zero_return_share: float
    no_trade_share: float  # minutes without a bar or with volume 0, within each coin's span
    lag1_acf_4h: float
    hour_volume_profile: np.ndarray  # [24]: share of a coin's volume by UTC hour, mean over coins
    roll_spread: float  # relative (0.0033 = 33 bps), median over coins
    corwin_schultz_spread: float
    abdi_ranaldo_spread: float
    hill_tail_index: float
    standardized_1m: np.ndarray = field(repr=False)
    standardized_1h: np.ndarray = field(repr=False)
    bar_ms: int = MINUTE_MS  # what the fields measure: 1m bars, or 1h (see the module doc)


def stylized_facts(panel: Panel) -> StylizedFacts:
    """Every statistic of issue 16's table on one panel."""
    last_price = carried_log_close(panel.close)
    returns_1m = np.diff(last_price, axis=0)
    long_ms, longer_ms = PERIODS_BY_BAR[panel.bar_ms]
    returns_1h = _period_returns(panel, last_price, long_ms)
    returns_4h = _period_returns(panel, last_price, longer_ms)
    abs_returns = np.abs(returns_1m)
    spreads = [bar_spreads(panel.high[:, i], panel.low[:, i], panel.close[:, i])
               for i in range(panel.coins)]
    standardized_1m = _standardized(returns_1m)
    return StylizedFacts(
        lag1_acf_1m=_mean(autocorrelation(returns_1m, 1)),
        variance_ratio_1h=_variance_ratio(returns_1m, returns_1h, long_ms // panel.bar_ms),
        abs_return_acf=np.array([_mean(autocorrelation(abs_returns, lag))
                                 for lag in range(1, MAX_ABS_LAG + 1)]),
        volume_abs_return_spearman=_mean(
            _spearman_by_coin(np.nan_to_num(panel.volume[1:], nan=0.0), abs_returns)),
        cross_coin_corr_1m=mean_cross_correlation(returns_1m),
        cross_coin_corr_1h=mean_cross_correlation(returns_1h),
        zero_return_share=_share(returns_1m == 0, np.isfinite(returns_1m)),
        no_trade_share=_no_trade_share(panel),
        lag1_acf_4h=_mean(autocorrelation(returns_4h, 1)),
        hour_volume_profile=hour_volume_profile(panel),
        roll_spread=_median([s.roll for s in spreads]),
        corwin_schultz_spread=_median([s.corwin_schultz for s in spreads]),
        abdi_ranaldo_spread=_median([s.abdi_ranaldo for s in spreads]),
        hill_tail_index=hill_tail_index(standardized_1m),
        standardized_1m=standardized_1m,
        standardized_1h=_standardized(returns_1h),
        bar_ms=panel.bar_ms,
    )


def mean_facts(runs: list[StylizedFacts]) -> StylizedFacts:
    """The facts of several panels of one shape as one: scalars and per-lag or per-hour
    arrays averaged, the pooled standardized returns joined. A calibration compares the
    real month with the mean over a few simulated seeds, so it does not fit one seed's
    noise (a month's variance ratio moves +-0.03 with the seed)."""
    if not runs:
        raise ValueError("mean_facts needs at least one set of facts")
    values: dict[str, object] = {}
    for name in StylizedFacts.__dataclass_fields__:
        items = [getattr(run, name) for run in runs]
        if name.startswith("standardized_"):
            values[name] = np.concatenate(items)
        elif name == "bar_ms":
            values[name] = items[0]
        elif isinstance(items[0], np.ndarray):
            values[name] = np.mean(np.stack(items), axis=0)
        else:
            values[name] = _mean(np.array(items, float))
    return StylizedFacts(**values)  # type: ignore[arg-type]


def autocorrelation(series: np.ndarray, lag: int) -> np.ndarray:
    """Per column of [T, N]: the sample autocorrelation at `lag` (lagged products over the
    pairs where both values exist, over the variance about the column mean); NaN for a
    column that is constant or has no such pair."""
    if lag >= len(series):
        return np.full(series.shape[1], np.nan)
    present = np.isfinite(series)
    count = present.sum(axis=0)
    mean = np.where(present, series, 0.0).sum(axis=0) / np.maximum(count, 1)
    centered = np.where(present, series - mean, 0.0)
    variance = (centered ** 2).sum(axis=0) / np.maximum(count, 1)
    pairs = (present[lag:] & present[:-lag]).sum(axis=0)
    lagged = (centered[lag:] * centered[:-lag]).sum(axis=0)
    usable = (pairs > 0) & (variance > 0)
    return np.where(usable, lagged / np.maximum(pairs, 1) / np.where(usable, variance, 1.0),
                    np.nan)


def mean_cross_correlation(returns: np.ndarray) -> float:
    """The mean Pearson correlation over all pairs of coins, each pair over the rows where
    both have a return; NaN with fewer than two coins or no pair that varies."""
    coins = returns.shape[1]
    correlations = [pearson(returns[:, i], returns[:, j])
                    for i in range(coins) for j in range(i + 1, coins)]
    return _mean(np.array(correlations))


def hour_volume_profile(panel: Panel) -> np.ndarray:
    """The share of volume traded in each UTC hour 0..23, per coin, averaged over the coins
    that traded at all (no volume: 24 NaN)."""
    hour = ((panel.start_ms + panel.bar_ms * np.arange(panel.minutes)) // HOUR_MS) % 24
    volume = np.nan_to_num(panel.volume, nan=0.0)
    by_hour = np.array([volume[hour == h].sum(axis=0) for h in range(24)])  # [24, N]
    total = by_hour.sum(axis=0)
    traded = total > 0
    if not traded.any():
        return np.full(24, np.nan)
    return (by_hour[:, traded] / total[traded]).mean(axis=1)


def profile_correlation(profile: np.ndarray, other: np.ndarray) -> float:
    """Pearson correlation of two hour-of-day profiles (NaN if either is flat or missing)."""
    return pearson(profile, other)


def hill_tail_index(standardized: np.ndarray) -> float:
    """Hill's estimate of the tail index α of |standardized returns| (pooled): 1 over the
    mean log of the k largest over the (k+1)-th largest, k = `HILL_TAIL_SHARE` of the
    values; NaN when k < `HILL_MIN_TAIL`. Lower = fatter tails: Student-t(3) reads 3.0,
    a Gaussian ~9 at this k, Bittrex's 1m moves 3.6-4.0."""
    magnitudes = np.abs(standardized[np.isfinite(standardized)])
    magnitudes = np.sort(magnitudes[magnitudes > 0])[::-1]
    tail = int(HILL_TAIL_SHARE * magnitudes.size)
    if tail < HILL_MIN_TAIL:
        return float("nan")
    mean_log_excess = float(np.mean(libm.log(magnitudes[:tail] / magnitudes[tail])))
    return 1.0 / mean_log_excess if mean_log_excess > 0 else float("nan")


def ks_distance(sample: np.ndarray, other: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (the largest gap between the two empirical
    distribution functions); NaN if either sample is empty."""
    sample, other = sample[np.isfinite(sample)], other[np.isfinite(other)]
    if not sample.size or not other.size:
        return float("nan")
    return float(stats.ks_2samp(sample, other).statistic)


def carried_log_close(close: np.ndarray) -> np.ndarray:
    """Log close carried forward over minutes without a bar; NaN before a coin's first bar."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = libm.log(np.where(close > 0, close, np.nan))
    rows = np.arange(len(log_close))[:, None]
    last_seen = np.maximum.accumulate(np.where(np.isfinite(log_close), rows, -1), axis=0)
    carried = log_close[np.maximum(last_seen, 0), np.arange(log_close.shape[1])]
    return np.where(last_seen >= 0, carried, np.nan)


def _period_returns(panel: Panel, last_price: np.ndarray, period_ms: int) -> np.ndarray:
    """Returns between the last minutes of successive UTC periods (hours, 4h blocks)."""
    closes_at = panel.start_ms + panel.bar_ms * (np.arange(panel.minutes) + 1)
    period_ends = np.flatnonzero(closes_at % period_ms == 0)
    return np.diff(last_price[period_ends], axis=0)


def _variance_ratio(returns_1m: np.ndarray, returns_1h: np.ndarray, bars: int = 60) -> float:
    """Mean over coins of Var(1h) / (60 Var(1m)) (generally: the long period's variance over
    `bars` bars' variance); a coin needs two hourly returns."""
    with np.errstate(invalid="ignore", divide="ignore"):
        hourly = _column_variance(returns_1h)
        minutely = _column_variance(returns_1m)
        return _mean(np.where(minutely > 0, hourly / (bars * minutely), np.nan))


def _column_variance(values: np.ndarray) -> np.ndarray:
    """Per column, the sample variance (ddof 1) of its finite values; NaN with fewer than 2."""
    present = np.isfinite(values)
    count = present.sum(axis=0)
    mean = np.where(present, values, 0.0).sum(axis=0) / np.maximum(count, 1)
    squares = (np.where(present, values - mean, 0.0) ** 2).sum(axis=0)
    return np.where(count > 1, squares / np.maximum(count - 1, 1), np.nan)


def _spearman_by_coin(volume: np.ndarray, abs_returns: np.ndarray) -> np.ndarray:
    """Per coin, the rank correlation of volume and |return| over minutes with a return."""
    result = np.full(abs_returns.shape[1], np.nan)
    for coin in range(abs_returns.shape[1]):
        present = np.isfinite(abs_returns[:, coin])
        x, y = volume[present, coin], abs_returns[present, coin]
        if x.size > 2 and np.ptp(x) > 0 and np.ptp(y) > 0:
            result[coin] = stats.spearmanr(x, y).statistic
    return result


def _no_trade_share(panel: Panel) -> float:
    """Minutes without a bar or with volume 0, over each coin's minutes from its first bar to
    its last (before a listing or after a delisting is not "no trade")."""
    has_bar = np.isfinite(panel.close)
    traded = has_bar & (np.nan_to_num(panel.volume, nan=0.0) > 0)
    rows = np.arange(panel.minutes)[:, None]
    first = np.where(has_bar, rows, panel.minutes).min(axis=0)
    last = np.where(has_bar, rows, -1).max(axis=0)
    in_span = (rows >= first) & (rows <= last)
    return _share(~traded & in_span, in_span)


def _standardized(returns: np.ndarray) -> np.ndarray:
    """Each coin's finite non-zero returns minus their mean over their standard deviation,
    pooled (a coin without variation is left out)."""
    pooled = []
    for coin in range(returns.shape[1]):
        column = returns[:, coin]
        values = column[np.isfinite(column) & (column != 0)]
        if values.size > 1 and values.std() > 0:
            pooled.append((values - values.mean()) / values.std())
    return np.concatenate(pooled) if pooled else np.empty(0)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation over the positions where both are finite; NaN if either is flat
    there or fewer than three such positions."""
    both = np.isfinite(x) & np.isfinite(y)
    if both.sum() < 3:
        return float("nan")
    x, y = x[both] - x[both].mean(), y[both] - y[both].mean()
    scale = float(np.sqrt((x ** 2).sum() * (y ** 2).sum()))
    return float((x * y).sum() / scale) if scale > 0 else float("nan")


def _share(hit: np.ndarray, among: np.ndarray) -> float:
    """The fraction of `among` that is also `hit`; NaN when `among` is empty."""
    total = int(among.sum())
    return float((hit & among).sum() / total) if total else float("nan")


def _mean(values: np.ndarray) -> float:
    """The mean of the finite values; NaN (without numpy's warning) when there are none."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _median(values: list[float]) -> float:
    finite = np.array([v for v in values if np.isfinite(v)])
    return float(np.median(finite)) if finite.size else float("nan")
