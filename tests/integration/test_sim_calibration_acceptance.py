"""Issue 16's calibration acceptance on the real data (skipped without ../shared/data): the
shipped fits, generated with the judged data's shape and read as the model's mean over 50
seeds (`entasis sim report --seeds`, ADR-117), are within max(1.5 x the real-vs-real
distance, the floor) on every statistic against the data they were not fitted on.

The two directions the issue names: fitted on Bittrex 2017-12 and judged on 2017-11, and
fitted on binance_1h 2018-19 and judged on 2020-22 (the past fitted, the future judged). The
reverse directions are not within (docs/results.md "The model's expected reading")."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.research.sim_report import SimGapReport, build_report
from exchange.sim.fact_gap import WITHIN, YARDSTICK_FACTOR
from exchange.sim.shipped_params import shipped_file

SEEDS = 50


def _outside(report: SimGapReport) -> list[str]:
    """The rows outside their limit; the bar spreads' rows held to the issue's own rule
    (1.5 x the yardstick: the issue names no floor for them, the report's 10 % is ours)."""
    return [f"{row.statistic}: gap {row.gap:.4g} > limit {row.limit:.4g}"
            for row in report.rows if row.verdict != WITHIN
            or (row.unit == "bps" and row.gap > YARDSTICK_FACTOR * row.yardstick)]


@pytest.mark.slow
def test_the_bittrex_2017_12_fit_is_within_on_every_statistic_judged_on_2017_11(
        shared_data: Path) -> None:
    ohlcv = shared_data / "ohlcv"
    with shipped_file("bittrex_2017-12") as params:
        report = build_report([ohlcv / "freqtrade_bittrex_2017-11",
                               ohlcv / "freqtrade_bittrex_2017-12"],
                              seed=0, params=params, seeds=SEEDS)

    assert len(report.rows) == 19
    assert _outside(report) == []


@pytest.mark.slow
def test_the_binance_1h_2018_19_fit_is_within_on_every_statistic_judged_on_2020_22(
        shared_data: Path) -> None:
    hourly = shared_data / "ohlcv" / "binance_1h_2017-2022"
    with shipped_file("binance_1h_2018-19") as params:
        report = build_report([f"{hourly}@2020-01-01..2023-01-01",
                               f"{hourly}@2018-01-01..2020-01-01"],
                              seed=0, params=params, seeds=SEEDS)

    assert len(report.rows) == 19
    assert _outside(report) == []
