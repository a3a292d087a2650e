"""`--policies auto:candidates=NAME@KEY=VALUE+...`: auto chooses among configurations of a
policy, not only among policies, on the training window alone, and trades the winning
configuration, parameters and all, on the test window. This is how the baseline's no-trade
band (`edge_cost_margin`) and entry cadence (`entry_every_minutes`) are chosen per fold."""

from __future__ import annotations

import numpy as np
import pytest

from bot.config import load_config
from bot.research import walkforward as runner
from bot.research.walkforward import PolicySpec
from bot.research.walkforward_auto import AutoSettingsError, auto_settings, candidate_spec
from tests.integration.test_walkforward_auto import TEST_DAYS, TRAIN_DAYS, run_auto, trending_grid
from trading.folds import grid_folds


def test_a_candidate_names_a_batch_policy_and_its_fields() -> None:
    assert candidate_spec("baseline@edge_cost_margin=0.5@entry_every_minutes=15") == (
        "baseline", (("edge_cost_margin", 0.5), ("entry_every_minutes", 15)))
    assert candidate_spec("sma") == ("sma", ())


@pytest.mark.parametrize(("candidates", "words"), [
    ("baseline@edge_cost_margin", "NAME@KEY=VALUE"),  # no value
    ("baseline@no_such_field=1", "fields of BaselineBatch"),
    ("baseline@edge_cost_margin=-2", "margin >= -1"),
    ("flat@k=1", "cannot be a candidate"),
])
def test_auto_refuses_a_candidate_it_could_not_build_before_any_fold_runs(
        candidates: str, words: str) -> None:
    with pytest.raises(AutoSettingsError, match=words):
        auto_settings({"candidates": candidates})


def test_auto_trades_the_winning_configuration_with_its_parameters() -> None:
    # given rising coins and two configurations of one policy (momentum over 2 or 48 bars)
    grid = trending_grid(train_drift=0.002, test_drift=0.002)
    spec = PolicySpec("auto", "auto", (("candidates", "topk@k=1@momentum_bars=2"
                                                      "+topk@k=3@momentum_bars=48"),))
    [outcome] = run_auto(grid, spec)
    selection = outcome.selection
    assert selection is not None
    assert {run.policy for run in selection.candidates} == {
        "auto/topk@k=1@momentum_bars=2", "auto/topk@k=3@momentum_bars=48"}
    assert selection.picked in ("topk@k=1@momentum_bars=2", "topk@k=3@momentum_bars=48")
    # then the test window is traded by the picked configuration exactly as it trades alone
    name, fields = candidate_spec(selection.picked)
    settings = runner.fast_settings(load_config(None, environ={}), grid.bar_ms)
    folds = grid_folds(grid, train_days=TRAIN_DAYS, test_days=TEST_DAYS)
    [alone] = runner.walk_forward(grid, folds, [PolicySpec("auto", name, fields)],
                                  settings=settings)
    np.testing.assert_array_equal(outcome.equity, alone.equity)
    assert outcome.fees == alone.fees > 0


def test_the_baselines_no_trade_band_is_chosen_on_the_training_window() -> None:
    # given coins rising steadily, and the baseline (a day's horizon, so that hourly bars
    # give it an edge) with no margin over its costs and with a margin no edge can clear
    grid = trending_grid(train_drift=0.004, test_drift=0.004)
    narrow, wide = ("baseline@horizon_minutes=1440@edge_cost_margin=0",
                    "baseline@horizon_minutes=1440@edge_cost_margin=100")
    [outcome] = run_auto(grid, PolicySpec("auto", "auto", (("candidates", f"{narrow}+{wide}"),)))
    assert outcome.selection is not None
    runs = {run.policy: run for run in outcome.selection.candidates}
    # then the narrow band trades on the selection window, the wide one never does
    assert runs[f"auto/{narrow}"].fees > 0
    assert runs[f"auto/{wide}"].fees == 0
    # and auto picks the band that made money there and trades it on the test window
    assert outcome.selection.picked == narrow
    assert outcome.fees > 0
