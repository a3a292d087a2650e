"""`entasis walkforward --policies rl_portfolio`: the portfolio league trained inside every
fold on its training window only, its best traded once on the test window in the portfolio
env; flat when no candidate ever won its league; nothing of the test window read before.

Grids are small hourly random walks (a test-sized league, so what it learns is noise; the
planted-edge test of the league itself is tests/integration/test_portfolio_league.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bot.config import load_config
from bot.research import walkforward as runner
from bot.research.walkforward import PolicySpec
from bot.research.walkforward_league import LeagueSettingsError
from model.timeframes import HOUR_MS
from strategies.features_batch import BarGrid
from trading.folds import grid_folds
from trading.walkforward_report import FoldOutcome

# A guard for a loaded machine (whole generations of training and a league per test;
# ~15 s per test on an idle 2-core machine).
pytestmark = pytest.mark.timeout(300)

START_MS = 1_514_764_800_000  # 2018-01-01 00:00 UTC
SYMBOLS = ("BTCUSDT", "ETHUSDT", "XRPUSDT", "LTCUSDT")
DAYS, TRAIN_DAYS, TEST_DAYS = 40, 30, 5
LEAGUE = PolicySpec("rl", "rl_portfolio", (("generations", 1), ("envs", 8), ("horizon", 24),
                                           ("episodes", 20), ("hidden", 16)))


def random_walk(seed: int = 2) -> BarGrid:
    rng = np.random.default_rng(seed)
    rows = DAYS * 24
    close = np.round(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.006, (rows, len(SYMBOLS))),
                                              axis=0)), 2)
    open_ = np.vstack([close[:1], close[:-1]])
    return BarGrid(symbols=SYMBOLS, start_ms=START_MS, open=open_,
                   high=np.round(np.maximum(open_, close) * 1.003, 2),
                   low=np.round(np.minimum(open_, close) * 0.997, 2), close=close,
                   quote_volume=np.full(close.shape, 5e6), bar_ms=HOUR_MS)


def run_league(grid: BarGrid, spec: PolicySpec = LEAGUE) -> list[FoldOutcome]:
    settings = runner.fast_settings(load_config(None, environ={}), grid.bar_ms)
    folds = grid_folds(grid, train_days=TRAIN_DAYS, test_days=TEST_DAYS)
    return runner.walk_forward(grid, folds, [spec], settings=settings)


def test_each_fold_reports_what_its_league_traded_on_the_test_window() -> None:
    outcomes = run_league(random_walk())
    assert [o.fold for o in outcomes] == list(range(len(outcomes))) and len(outcomes) == 2
    for outcome in outcomes:
        assert outcome.selection is not None
        picked = outcome.selection.picked
        assert picked.endswith("(1 of 1 promoted)") or picked == "flat (0 of 1 promoted)"
        assert outcome.equity.shape == (TEST_DAYS * 24,) and outcome.equity[0] == outcome.balance
        if picked.startswith("flat"):  # an unproven network never trades
            assert outcome.fees == 0 and np.all(outcome.equity == outcome.balance)


def test_the_league_of_a_fold_is_the_same_whatever_its_test_window_holds() -> None:
    grid, crashed = random_walk(), random_walk()
    test_start = TRAIN_DAYS * 24
    for prices in (crashed.open, crashed.high, crashed.low, crashed.close):
        prices[test_start:] *= 0.3
    first, second = run_league(grid)[0], run_league(crashed)[0]
    assert first.selection is not None and second.selection is not None
    assert first.selection.picked == second.selection.picked


def test_league_parameters_are_checked_before_any_data_is_read() -> None:
    with pytest.raises(LeagueSettingsError, match="no parameter 'gens'"):
        runner.check_policies([PolicySpec("rl", "rl_portfolio", (("gens", 2),))])
    with pytest.raises(LeagueSettingsError, match=">= 1"):
        runner.check_policies([PolicySpec("rl", "rl_portfolio", (("episodes", 0),))])
    with pytest.raises(LeagueSettingsError, match="arena_penalty >= 0"):
        runner.check_policies([PolicySpec("rl", "rl_portfolio", (("arena_penalty", -1),))])


def test_a_training_window_too_short_for_its_episodes_says_what_to_change() -> None:
    too_long = PolicySpec("rl", "rl_portfolio", (("horizon", 24 * 40),))
    with pytest.raises(LeagueSettingsError, match="lengthen --train-days"):
        run_league(random_walk(), too_long)


def test_a_slower_cadence_marketable_orders_a_cost_margin_and_a_growth_judged_league_run(
        ) -> None:
    """Each runs as the policy's own configuration, under its own label (that the cost
    margin shapes training only is held by tests/unit/test_league_cost_margin.py)."""
    spec = PolicySpec("rl-4h-taker", "rl_portfolio", (*LEAGUE.params, ("every", 4),
                                                      ("offsets", 1), ("arena_penalty", 0),
                                                      ("cost_margin", 0.5)))
    [first, _] = run_league(random_walk(), spec)
    assert first.policy == "rl-4h-taker" and first.selection is not None
    assert first.equity.shape == (TEST_DAYS * 24,)
    with pytest.raises(LeagueSettingsError, match="distinct tick offsets"):
        runner.check_policies([PolicySpec("rl", "rl_portfolio", (("offsets", "1+1"),))])
