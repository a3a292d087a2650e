"""The league's score baselines: forecast top-k and the product's ranking, as `ScoredTopK`
players of the portfolio env (rl/portfolio_arena.py), and the league's set of baselines.

Both hold the `k` coins with the highest score with the env's own marketable orders, so
they pay the same costs and pass the same risk gate as every other player, and buy a coin
only where its expected edge beats a taker round trip (both fees, the book's quoted
spread, the slippage allowance) by the edge margin (strategies/edge.py). Their scores are
side arrays aligned to the league env's grid rows: the networks' observation is unchanged.

forecast_topk  `trading.forecast_topk.ForecastTopKBatch`'s own held forecast and entry gate
               (the fast backtester's `forecast` policy: one forecast, not two), fitted on
               the rows before the judge window's first episode row (its targets purged by
               the horizon) and predicting the judge rows: out of sample for every episode.
rank           strategies/ranking.py's P(target before stop within the horizon), the
               ranking the daemon's `baseline` policy enters on, from the env's own feature
               tensor; a member is bought under that policy's entry rule: score >=
               `min_score`, positive drift, barrier edge (p x target - q x stop) clearing
               the round trip.

`league_baselines` is the league's set: flat, equal weight, momentum, rank, and forecast
top-k where a forecast can be fit; where it cannot (too few training rows), the baseline
is left out and the reason goes into every league report (`LeagueBaselines.omitted`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from model import errors, libm
from rl.portfolio_arena import BASELINES, PortfolioPolicyFn, ScoredTopK
from rl.portfolio_env import PortfolioEnvFactory
from strategies.barrier import probability_up_first_by_row
from strategies.baselines import BaselinePolicy
from strategies.edge import (
    DEFAULT_EDGE_COST_MARGIN,
    SLIPPAGE_ALLOWANCE_BPS,
    quoted_spreads,
    round_trip_cost,
)
from strategies.feature_columns import FEATURE_NAMES
from strategies.features_batch import MinuteGrid
from strategies.ranking import RankingSettings, barrier_probability, score_features
from trading.fast_baseline import DefaultRanking
from trading.fast_policies import StepQuotes, forward_filled
from trading.forecast_topk import ForecastTopKBatch

#: ForecastTopKBatch's default; the rank baseline holds as many, so only the score differs.
TOP_K = 3


@dataclass(frozen=True)
class LeagueBaselines:
    """The baselines a league plays, and those it could not, each with the reason."""

    players: Mapping[str, PortfolioPolicyFn] = field(default_factory=lambda: dict(BASELINES))
    omitted: Mapping[str, str] = field(default_factory=dict)


def book_quotes(factory: PortfolioEnvFactory) -> StepQuotes:
    """Every grid row's quote as the env's book holds it (forward-filled bid and ask of the
    factory's market), in the fast backtester's `StepQuotes` form: the spread a decision
    at that row would be charged."""
    grid, market = factory.grid, factory.market
    rows = np.arange(grid.close.shape[0], dtype=np.int64)
    return StepQuotes(rows, grid.start_ms + (rows + 1) * grid.bar_ms, forward_filled(grid.close),
                      forward_filled(market.bid), forward_filled(market.ask))


def rank_topk(judge: PortfolioEnvFactory, *, k: int = TOP_K,
              ranking: RankingSettings | None = None,
              min_score: float = BaselinePolicy.min_score,
              edge_cost_margin: float = DEFAULT_EDGE_COST_MARGIN,
              slippage_bps: float = SLIPPAGE_ALLOWANCE_BPS) -> ScoredTopK:
    """The rank baseline on `judge`'s grid (module docstring). `ranking`: the `[strategy]`
    settings, by default their defaults (`DefaultRanking`)."""
    chosen = ranking if ranking is not None else DefaultRanking()
    grid = judge.grid
    scores = score_features(judge.features(), FEATURE_NAMES, chosen, require_quotes=False,
                            bar_ms=grid.bar_ms, with_probability=False)
    eligible = scores.eligible
    p_target = barrier_probability(scores.drift, scores.sigma, eligible, chosen, by_row=True)
    # q = P(stop first): the same series mirrored (strategies/edge.stop_first_probability).
    up = libm.log1p(chosen.target_return_pct / 100)
    down = -libm.log1p(-min(chosen.stop_return_pct, 99.99) / 100)
    p_stop = probability_up_first_by_row(down, up, np.where(eligible, -scores.drift, 0.0),
                                         np.where(eligible, scores.sigma, np.nan),
                                         chosen.horizon_minutes)
    # strategies/edge.barrier_edge, cell by cell: p x target - q x stop.
    edge = (p_target * chosen.target_return_pct / 100 - p_stop * chosen.stop_return_pct / 100)
    quotes = book_quotes(judge)
    taker = judge.settings.fill_params.taker_fee_bps
    cost = np.asarray(round_trip_cost(taker, taker, quoted_spreads(quotes.bid, quotes.ask),
                                      slippage_bps).total)
    with np.errstate(invalid="ignore"):
        enter = ((p_target >= min_score) & (scores.drift > 0)
                 & (edge > cost * (1 + edge_cost_margin)))
    return ScoredTopK(np.where(eligible, p_target, np.nan), np.asarray(enter), k)


def forecast_topk(history: MinuteGrid, judge: PortfolioEnvFactory, train_stop_row: int, *,
                  seed: int = 0, topk: ForecastTopKBatch | None = None) -> ScoredTopK:
    """Forecast top-k on `judge`'s grid, whose rows are `history`'s last ones; the forecast
    is fit on `history`'s rows before `train_stop_row`, which must be at or before the
    judge's first episode row (so no league episode decides on a row it trained on).
    `topk`: the policy's settings (default: `ForecastTopKBatch`'s, at the judge's taker
    fee). Raises `SignalDataError` when no forecast can be fit on those rows."""
    judge_rows = judge.grid.close.shape[0]
    first = history.close.shape[0] - judge_rows
    if (first < 0 or history.bar_ms != judge.grid.bar_ms
            or history.start_ms + first * history.bar_ms != judge.grid.start_ms):
        raise ValueError("the judge's grid must be the last rows of `history` (same bars); "
                         "build both from one grid with trading.folds.grid_rows")
    first_episode_row = first + judge.config.warmup_rows  # the env's earliest start row
    if train_stop_row > first_episode_row:
        raise ValueError(f"the forecast would train on rows up to {train_stop_row - 1}, but "
                         f"league episodes start at row {first_episode_row}: stop the fit "
                         "there or earlier")
    policy = topk or ForecastTopKBatch(
        k=TOP_K, seed=seed, taker_fee_bps=judge.settings.fill_params.taker_fee_bps)
    held = policy.held_forecast(history, train_stop_row)[first:]
    gate = policy.entry_gate(held, book_quotes(judge))
    return ScoredTopK(held, gate.ok, policy.k)


def league_baselines(judge: PortfolioEnvFactory, history: MinuteGrid | None = None,
                     train_stop_row: int | None = None, *, seed: int = 0) -> LeagueBaselines:
    """flat, equal weight, momentum, rank and forecast top-k on `judge` (module docstring).
    Without `history` (no training rows to fit a forecast on), or when the forecast cannot
    be fit on them, forecast top-k is omitted and `omitted` says why."""
    players: dict[str, PortfolioPolicyFn] = {**BASELINES, "rank": rank_topk(judge)}
    if history is None or train_stop_row is None:
        return LeagueBaselines(players, {"forecast_topk": "no training rows given to fit "
                                                          "a forecast on"})
    try:
        players["forecast_topk"] = forecast_topk(history, judge, train_stop_row, seed=seed)
    except errors.DataError as exc:  # the forecast's own: too few rows, too short history
        return LeagueBaselines(players, {"forecast_topk": f"forecast not fit: {exc}"})
    return LeagueBaselines(players)


__all__ = ["TOP_K", "LeagueBaselines", "book_quotes", "forecast_topk", "league_baselines",
           "rank_topk"]
