"""Candidate ranking: liquidity and warm-up filters, then P(target before stop) per coin.

Score = the probability that the coin's log price reaches log(1 + target_return_pct/100)
before log(1 - stop_return_pct/100) within `horizon_minutes`, for Brownian motion with drift
mu and volatility sigma (strategies/barrier.py gives the closed-form series). The estimates
are deliberately simple so an operator can recompute them by hand:

- sigma (per minute) = sqrt((sigma_1h^2 + sigma_1d^2) / 2): recent and daily volatility
  weigh equally, so a coin that just woke up counts as more volatile, but not fully.
- mu (per minute) = PERSISTENCE * mean over w in {1h, 6h, 12h, 1d} of s_w * ret_w / w, the
  per-minute drift of each window shrunk by s_w = z_w^2 / (1 + z_w^2), where z_w is the
  window's move in random-walk standard deviations (`trend_z_w`): a move within the noise
  (|z| << 1) contributes almost nothing, a clear trend almost all of its drift.
  PERSISTENCE = 0.5 halves it: momentum decays, and an unshrunk drift would make every
  pumping coin look like a sure thing.
- Eligible coins: quote volume over 24h >= min_quote_volume_24h (the exchange's 24h figure
  from ticks, else the sum of 1m bars), spread <= max_spread_bps (coins without quotes are
  dropped unless `require_quotes=False`, as in bar-only backtests), and at least
  `min_warm_minutes` of history (default one day, the longest window mu and sigma use).

`score_features` works on any leading shape ([n] live, [T, n] in backtests); `rank` turns
one row into the top K, ordered by score, ties broken by symbol.

On bars longer than a minute (`bar_ms`, features of a `BarGrid`) the units are the same:
windows and warm-up are minutes, drift and sigma per minute. A return window absent at that
bar length (NaN, strategies/windows.py) leaves the mean of mu over the windows present, and
where one bar is too long for an hour's volatility (two returns) sigma is sigma_1d alone.
Bars of a day or longer have no sigma_1d, so no coin is eligible on them.

With a served forecast (strategies/forecast/, `[forecast] enabled`), a coin's drift is the
forecast's expected log return spread evenly over its horizon instead of the shrunk
momentum above (the forecast already weighs momentum among its inputs), the probability is
computed the same way, the forecast leads the reasons, and the coin carries the forecast
and its confidence on to sizing and the decisions table. Coins the forecast has no value
for keep the momentum drift.

With anomaly scores (risk/anomaly.py, score = reconstruction error / alarm threshold, NaN =
no score), a coin's *upward* drift is shrunk by min(score, 1): at half the threshold half of
its edge is gone, at the threshold the probability is the zero-drift ("no information")
prior. A downward drift is left alone, so a higher anomaly score can only lower a coin's
probability, never raise it (ADR-035). The score and what it removed join the reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np

from model import libm
from model.market import MINUTE_MS
from strategies.barrier import MAX_IMAGES, probability_up_first, probability_up_first_by_row
from strategies.decision_kernel import rank_scores_kernel
from strategies.edge import barrier_logs
from strategies.minute_rank_kernel import minute_ranking_kernel
from strategies.rank_order import _name_ranks, _top_candidates
from strategies.rank_select_kernel import top_reasons_kernel
from strategies.ranked_coin import RankedCoin as RankedCoin  # re-exported: readers import it here
from strategies.ranked_coin import (
    _new_object,
    _set_anomaly_score,
    _set_drift,
    _set_forecast_confidence,
    _set_forecast_return,
    _set_reasons,
    _set_reasons_json,
    _set_score,
    _set_sigma,
    _set_symbol,
    ranked_coin,
)
from strategies.ranking_reasons import (  # noqa: F401  _reasons, _reasons_each: their tests
    _reasons,
    _reasons_each,
    _reasons_from,
    _reasons_of_three,
    _reasons_with_json,
    _words_of_three,
)
from strategies.windows import RETURN_LABELS, RETURN_WINDOWS, present_windows, window_rows

PERSISTENCE = 0.5
MIN_WARM_MINUTES = 1440
_RETURN_WINDOWS = np.asarray(RETURN_WINDOWS, dtype=np.float64)


class RankingSettings(Protocol):
    """What ranking reads of the configuration. The app's `[strategy]` section
    (`bot.config.StrategyConfig`, validated there) has these fields; the core names only
    what it needs, so it never imports the app layer."""

    # Read-only properties, so a frozen config (pydantic, a frozen dataclass) satisfies it.
    @property
    def top_k(self) -> int: ...
    @property
    def target_return_pct(self) -> float: ...
    @property
    def stop_return_pct(self) -> float: ...
    @property
    def horizon_minutes(self) -> int: ...
    @property
    def min_quote_volume_24h(self) -> float: ...
    @property
    def max_spread_bps(self) -> float: ...


class ForecastView(Protocol):
    """What ranking reads of a forecast (strategies/forecast/serving.ForecastBatch)."""

    # Read-only properties: ForecastBatch is a frozen dataclass.
    @property
    def horizon(self) -> int: ...
    @property
    def expected_return(self) -> np.ndarray: ...  # [n_symbols], NaN = no forecast
    @property
    def confidence(self) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class Scores:
    """Vectorized ranking inputs and outputs, leading shape [..., n_symbols]."""

    probability: np.ndarray  # NaN where not eligible
    drift: np.ndarray
    sigma: np.ndarray
    eligible: np.ndarray  # bool
    contributions: np.ndarray  # [..., n, len(RETURN_WINDOWS)]: mu_w * horizon
    returns: np.ndarray  # [..., n, len(RETURN_WINDOWS)]: ret_w (log)
    anomaly_shrink: np.ndarray | None = None  # [..., n]: drift removed x horizon (<= 0)


def _columns(features: np.ndarray, names: Sequence[str], wanted: tuple[str, ...]) -> np.ndarray:
    return features[..., list(_column_indices(tuple(names), wanted))]


@lru_cache(maxsize=64)
def _column_indices(names: tuple[str, ...], wanted: tuple[str, ...]) -> tuple[int, ...]:
    """Where each `wanted` feature sits among `names` (cached: a decision step asks the same
    three times, and indexing the names each time was a few % of a backtest's step)."""
    index = {name: i for i, name in enumerate(names)}
    missing = [w for w in wanted if w not in index]
    if missing:
        raise KeyError(f"feature matrix lacks {missing}")
    return tuple(index[w] for w in wanted)


_RETURN_COLUMNS = tuple(f"ret_{label}" for label in RETURN_LABELS)
_TREND_COLUMNS = tuple(f"trend_z_{label}" for label in RETURN_LABELS)
_SCALAR_COLUMNS = ("sigma_1h", "sigma_1d", "warm_minutes", "spread_bps", "tick_turnover_24h",
                   "turnover_1d")


def score_features(features: np.ndarray, names: Sequence[str], config: RankingSettings, *,
                   min_warm_minutes: int = MIN_WARM_MINUTES,
                   require_quotes: bool = True,
                   forecast: ForecastView | None = None,
                   anomaly: np.ndarray | None = None,
                   bar_ms: int = MINUTE_MS, with_probability: bool = True) -> Scores:
    """Drift, volatility, eligibility and P(target before stop) for every coin (and every
    row of a history), from a feature array [..., n_symbols, n_features] of `bar_ms` bars
    (1m live). `anomaly` holds each coin's anomaly score [..., n_symbols] (x threshold,
    NaN = none): see the module docstring. `with_probability=False` leaves the probability
    NaN, for a caller that computes it later by row (`barrier_probability(by_row=True)`)
    from the drift, sigma and eligibility of blocks of symbols."""
    returns = _columns(features, names, _RETURN_COLUMNS)
    z = _columns(features, names, _TREND_COLUMNS)
    (sigma_1h, sigma_1d, warm, spread, tick_turnover, turnover_1d) = np.moveaxis(
        _columns(features, names, _SCALAR_COLUMNS), -1, 0)

    blend = hourly_volatility_known(bar_ms)
    sigma = np.sqrt((sigma_1h**2 + sigma_1d**2) / 2) if blend else sigma_1d
    # Minutes the window's return spans: the whole window, or the bars seen less the first.
    bar_minutes = bar_ms / MINUTE_MS
    window = np.minimum(_RETURN_WINDOWS, np.maximum(warm - bar_minutes, bar_minutes)[..., None])
    shrink = z * z / (1 + z * z)
    present = present_windows(RETURN_WINDOWS, bar_ms)
    per_window = PERSISTENCE * shrink * returns / window / int(present.sum())
    drift = per_window.sum(axis=-1) if present.all() else per_window[..., present].sum(axis=-1)
    if forecast is not None:
        forecast_drift = np.asarray(forecast.expected_return) / forecast.horizon
        drift = np.where(np.isfinite(forecast_drift), forecast_drift, drift)
    anomaly_shrink = None
    if anomaly is not None:
        drift, cut = anomaly_shrunk_drift(drift, anomaly)
        anomaly_shrink = cut * config.horizon_minutes

    volume_24h = libm.expm1(np.where(np.isfinite(tick_turnover), tick_turnover, turnover_1d))
    with np.errstate(invalid="ignore"):
        quotes_ok = spread <= config.max_spread_bps
        if not require_quotes:
            quotes_ok |= np.isnan(spread)
        eligible = ((warm >= min_warm_minutes) & (volume_24h >= config.min_quote_volume_24h)
                    & quotes_ok & (sigma > 0) & np.isfinite(drift))
    probability = (barrier_probability(drift, sigma, eligible, config) if with_probability
                   else np.full(eligible.shape, np.nan))
    return Scores(probability=probability, drift=drift, sigma=sigma, eligible=eligible,
                  contributions=per_window * config.horizon_minutes, returns=returns,
                  anomaly_shrink=anomaly_shrink)


def barrier_probability(drift: np.ndarray, sigma: np.ndarray, eligible: np.ndarray,
                        config: RankingSettings, *, by_row: bool = False) -> np.ndarray:
    """P(target before stop within the horizon) of the eligible coins, NaN elsewhere.

    `by_row` ([T, n] histories): each row exactly as `rank` computes it at that step, in
    bounded memory (strategies/barrier.probability_up_first_by_row); without it the whole
    array is one series, whose length (and so the last bits) the most demanding cell sets."""
    up, down = _barriers(config)
    probability_of = probability_up_first_by_row if by_row else probability_up_first
    probability = probability_of(up, down, np.where(eligible, drift, 0.0),
                                 np.where(eligible, sigma, np.nan), config.horizon_minutes)
    return np.where(eligible, probability, np.nan)


def _barriers(config: RankingSettings) -> tuple[float, float]:
    """(up, down): the log distances to the target and the stop (strategies/edge.barrier_logs:
    computed once per pair of settings, not twice a step)."""
    return barrier_logs(config.target_return_pct, config.stop_return_pct)


def _minute_scores(matrix: np.ndarray, names: Sequence[str], config: RankingSettings,
                   min_warm_minutes: int, require_quotes: bool) -> Scores:
    """`score_features` of one 1m matrix [n, n_features] without forecast or anomaly
    scores, probability included, in one compiled call (strategies/decision_kernel.py):
    the same values as the array form, without its ~100 numpy calls on n-element arrays."""
    columns = _kernel_columns(tuple(names))
    up, down = _barriers(config)
    probability, drift, sigma, eligible, contributions, returns, images = rank_scores_kernel(
        matrix, *columns, _RETURN_WINDOWS, float(min_warm_minutes),
        float(config.min_quote_volume_24h), float(config.max_spread_bps), require_quotes,
        float(config.horizon_minutes), up, down, float(MAX_IMAGES))
    int(images)  # a NaN image count raises here, as in barrier.probability_up_first
    return Scores(probability=probability, drift=drift, sigma=sigma, eligible=eligible,
                  contributions=contributions, returns=returns)


@lru_cache(maxsize=16)
def _kernel_columns(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The return, trend and scalar columns `rank_scores_kernel` reads, as index arrays."""
    return tuple(np.asarray(_column_indices(names, wanted), dtype=np.int64)  # type: ignore[return-value]
                 for wanted in (_RETURN_COLUMNS, _TREND_COLUMNS, _SCALAR_COLUMNS))


def hourly_volatility_known(bar_ms: int) -> bool:
    """Whether bars of `bar_ms` give `sigma_1h` (an hour of at least two bar returns)."""
    rows = window_rows(RETURN_WINDOWS[0], bar_ms)
    return rows is not None and rows >= 2


def anomaly_shrunk_drift(drift: np.ndarray, anomaly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(drift with its upward part shrunk by min(score, 1), the change <= 0) per coin.

    Why only upward: shrinking toward zero would *raise* a falling coin's probability, and a
    coin the detector cannot explain must never look better for it. NaN score = no effect."""
    weight = np.clip(np.nan_to_num(np.asarray(anomaly, dtype=np.float64), nan=0.0), 0.0, 1.0)
    change = -weight * np.maximum(drift, 0.0)
    return drift + change, change


def rank(matrix: np.ndarray, names: Sequence[str], symbols: Sequence[str],
         config: RankingSettings, *, min_warm_minutes: int = MIN_WARM_MINUTES,
         require_quotes: bool = True, forecast: ForecastView | None = None,
         anomaly: np.ndarray | None = None, bar_ms: int = MINUTE_MS) -> list[RankedCoin]:
    """The top `config.top_k` eligible coins of one feature matrix [n_symbols, n_features]
    of `bar_ms` bars, best first; equal scores are ordered by symbol so the result is
    deterministic. `anomaly`: each coin's anomaly score [n_symbols] (NaN = none), see the
    module docstring."""
    if matrix.ndim != 2 or matrix.shape[0] != len(symbols):
        raise ValueError(f"matrix {matrix.shape} does not match {len(symbols)} symbols")
    if anomaly is not None and np.shape(anomaly) != (len(symbols),):
        raise ValueError(f"anomaly scores {np.shape(anomaly)} do not match {len(symbols)} symbols")
    if forecast is None and anomaly is None and bar_ms == MINUTE_MS \
            and matrix.dtype == np.float64:
        return _minute_ranking(matrix, names, symbols, config, min_warm_minutes,
                               require_quotes)
    scores = score_features(matrix, names, config, min_warm_minutes=min_warm_minutes,
                            require_quotes=require_quotes, forecast=forecast,
                            anomaly=anomaly, bar_ms=bar_ms)
    top = _top_candidates(scores.probability, scores.eligible, symbols, config.top_k)
    # The top coins' numbers as Python floats in one array call each, and their reasons in
    # one pass (`_reasons_with_json`): not a dozen numpy scalar reads and a keyed sort per coin.
    rows = top.tolist()
    coins = [ranked_coin(symbols[i], score, drift, sigma, reasons, words_json)
             for i, score, drift, sigma, (reasons, words_json) in zip(
                 rows, scores.probability[top].tolist(), scores.drift[top].tolist(),
                 scores.sigma[top].tolist(),
                 _reasons_with_json(scores.contributions[top], libm.expm1(scores.returns[top])),
                 strict=True)]
    if forecast is None and anomaly is None:
        return coins
    return [_with_anomaly(_with_forecast(coin, forecast, i), anomaly, scores.anomaly_shrink, i)
            for coin, i in zip(coins, rows, strict=True)]


def _minute_ranking(matrix: np.ndarray, names: Sequence[str], symbols: Sequence[str],
                    config: RankingSettings, min_warm_minutes: int,
                    require_quotes: bool) -> list[RankedCoin]:
    """`rank`'s coins of one 1m matrix without forecast or anomaly scores: the scores, the
    selection and the reasons' windows in one compiled call
    (strategies/minute_rank_kernel.py: `_minute_scores` then `_ranking_of_scores`' kernel,
    without making their arrays Python objects), the words formatted in bulk and the coins
    made from them as they come (no list of (reasons, text) pairs, no call a coin)."""
    columns = _kernel_columns(tuple(names))
    up, down = _barriers(config)
    ints, floats, usual, images = minute_ranking_kernel(
        matrix, *columns, _RETURN_WINDOWS, float(min_warm_minutes),
        float(config.min_quote_volume_24h), float(config.max_spread_bps), require_quotes,
        float(config.horizon_minutes), up, down, float(MAX_IMAGES),
        _name_ranks(tuple(symbols)), int(config.top_k))
    int(images)  # a NaN image count raises here, as in barrier.probability_up_first
    if not usual:  # a top coin shows fewer than three windows: the two kernels' arrays
        return _ranking_of_scores(
            _minute_scores(matrix, names, config, min_warm_minutes, require_quotes), symbols,
            config.top_k)
    rows_and_codes = ints.tolist()
    numbers = floats.tolist()
    m = len(rows_and_codes) // 2
    # `_reasons_of_three`'s words, texts and pairs, made into the coins as they come.
    words, texts = _words_of_three(rows_and_codes[m:], numbers[6 * m:])
    pairs = zip(words, numbers[3 * m:6 * m])  # (words, contribution) of each window in turn
    triples = iter(numbers)  # probability, drift, sigma of each coin in turn (zip: rows first)
    coins: list[RankedCoin] = []
    push = coins.append
    for i, score, drift, sigma, reasons, text in zip(
            rows_and_codes[:m], triples, triples, triples, zip(pairs, pairs, pairs), texts):
        coin = _new_object(RankedCoin)  # `ranked_coin`, inline: ten a minute
        _set_symbol(coin, symbols[i])
        _set_score(coin, score)
        _set_drift(coin, drift)
        _set_sigma(coin, sigma)
        _set_reasons(coin, reasons)
        _set_forecast_return(coin, None)
        _set_forecast_confidence(coin, None)
        _set_anomaly_score(coin, None)
        _set_reasons_json(coin, text)
        push(coin)
    return coins


def _ranking_of_scores(scores: Scores, symbols: Sequence[str], top_k: int) -> list[RankedCoin]:
    """`rank`'s coins of one 1m matrix's scores: the selection, the numbers and the
    reasons' window order in one compiled call (strategies/rank_select_kernel.py, held to
    `_top_candidates` and `_reasons_with_json`), the words formatted in bulk."""
    (top, numbers, values, percents, order, shown, strong_values, strong_percents,
     codes) = top_reasons_kernel(
        scores.probability, scores.eligible, _name_ranks(tuple(symbols)), int(top_k),
        scores.drift, scores.sigma, scores.contributions, scores.returns)
    counts = shown.tolist()
    # The usual minute: every coin shows three windows, formatted from the flat columns.
    worded = (_reasons_of_three(codes.tolist(), strong_values.tolist(), strong_percents.tolist())
              if sum(counts) == 3 * len(counts) and len(RETURN_LABELS) == values.shape[1]
              else _reasons_from(order.tolist(), counts, values.tolist(), percents.tolist()))
    return [ranked_coin(symbols[i], score, drift, sigma, reasons, words_json)
            for i, (score, drift, sigma), (reasons, words_json) in zip(
                top.tolist(), numbers.tolist(), worded, strict=True)]


def _with_anomaly(coin: RankedCoin, anomaly: np.ndarray | None, shrink: np.ndarray | None,
                  i: int) -> RankedCoin:
    """The coin with its anomaly score attached and named last among the reasons."""
    if anomaly is None or shrink is None or not np.isfinite(anomaly[i]):
        return coin
    score = float(anomaly[i])
    removed = float(shrink[i])
    words = f"anomaly {score:.2f}x threshold"
    words += (f": upward drift cut {min(score, 1.0) * 100:.0f}% ({libm.expm1(removed) * 100:+.3f}%)"
              if removed < 0 else ": no upward drift to cut")
    return RankedCoin(coin.symbol, coin.score, coin.drift, coin.sigma,
                      coin.reasons + ((words, removed),), coin.forecast_return,
                      coin.forecast_confidence, score)


def _with_forecast(coin: RankedCoin, forecast: ForecastView | None, i: int) -> RankedCoin:
    """The coin with its forecast attached and named first among the reasons."""
    if forecast is None or not np.isfinite(forecast.expected_return[i]):
        return coin
    expected = float(forecast.expected_return[i])
    confidence = float(forecast.confidence[i])
    words = (f"forecast {libm.expm1(expected) * 100:+.3f}% in {forecast.horizon}m "
             f"(confidence {confidence:.2f})")
    reason = (words, expected)
    return RankedCoin(coin.symbol, coin.score, coin.drift, coin.sigma,
                      (reason,) + coin.reasons[:2], expected, confidence)
