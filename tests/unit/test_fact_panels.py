"""Time windows of a bar folder (`DIR@START..END`, exchange/sim/fact_panels.py): years of
hourly bars are fitted on one window and judged on another, with the coins that barely
trade inside a window left out by name; and which fitted coins a generated panel holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exchange.sim.bar_files import BarFileError
from exchange.sim.calibrate import MIN_BARS_PER_COIN
from exchange.sim.fact_panels import FolderWindow, generated_panel, judged_coins, windowed
from exchange.sim.stylized_facts import Panel
from model.timeframes import HOUR_MS
from tests.market_params_example import example_params

JAN_2018 = 1_514_764_800_000  # 2018-01-01 00:00 UTC


def hourly_panel(hours: int, listed_at: dict[str, int]) -> Panel:
    """Coins of 1h bars from JAN_2018; each coin's bars start at its listing hour."""
    close = np.full((hours, len(listed_at)), np.nan)
    for i, first in enumerate(listed_at.values()):
        close[first:, i] = 1.0 + 0.001 * np.arange(hours - first)
    return Panel(JAN_2018, close, close, close, close, close, tuple(listed_at), HOUR_MS)


def test_a_plain_folder_has_no_window() -> None:
    assert FolderWindow.parse("data/binance") == FolderWindow(Path("data/binance"))


def test_a_window_reads_utc_dates_with_either_end_optional() -> None:
    window = FolderWindow.parse("data/b@2018-01-01..2020-01-01")
    assert window == FolderWindow(Path("data/b"), JAN_2018, 1_577_836_800_000)
    assert FolderWindow.parse("data/b@2018-01-01..").end_ms is None
    assert FolderWindow.parse("data/b@..2018-01-01T06:00").end_ms == JAN_2018 + 6 * HOUR_MS


@pytest.mark.parametrize("spec, message", [
    ("data/b@2018-13-01..", "is not a date"),
    ("data/b@2020-01-01..2018-01-01", "ends before it starts"),
])
def test_a_bad_window_says_how_to_write_one(spec: str, message: str) -> None:
    with pytest.raises(BarFileError, match=message) as error:
        FolderWindow.parse(spec)
    assert spec in str(error.value) and "DIR@START..END" in str(error.value)


def test_a_window_cuts_the_bars_and_leaves_out_coins_with_too_few_in_it_by_name() -> None:
    panel = hourly_panel(3000, {"OLDUSDT": 0, "NEWUSDT": 2500})
    cut, note = windowed(panel, FolderWindow(Path("d"), JAN_2018 + 1000 * HOUR_MS, None), "d@w")
    assert cut.start_ms == JAN_2018 + 1000 * HOUR_MS and cut.minutes == 2000
    assert cut.symbols == ("OLDUSDT",)  # NEWUSDT has 500 bars in the window
    np.testing.assert_array_equal(cut.close[:, 0], panel.close[1000:, 0])
    assert "NEWUSDT" in note and str(MIN_BARS_PER_COIN) in note


def test_a_window_between_bar_opens_starts_at_the_next_bar_and_ends_before_end() -> None:
    panel = hourly_panel(3000, {"OLDUSDT": 0})
    window = FolderWindow(Path("d"), JAN_2018 + 30 * 60_000, JAN_2018 + 1500 * HOUR_MS)
    cut, note = windowed(panel, window, "d@w")
    assert cut.start_ms == JAN_2018 + HOUR_MS and cut.minutes == 1499 and note == ""


def test_a_window_where_no_coin_has_enough_bars_is_refused() -> None:
    panel = hourly_panel(3000, {"OLDUSDT": 0})
    with pytest.raises(BarFileError, match="widen it"):
        windowed(panel, FolderWindow(Path("d"), None, JAN_2018 + 10 * HOUR_MS), "d@w")


def test_fewer_coins_than_fitted_draws_them_by_seed_and_more_cycle_in_order() -> None:
    params = example_params(coins=6, bar_minutes=60.0)  # 1h panels carry the fit's names

    drawn = {seed: generated_panel(seed=seed, coins=3, minutes=60, start_ms=0,
                                   params=params).symbols for seed in range(8)}
    cycled = generated_panel(seed=0, coins=8, minutes=60, start_ms=0, params=params).symbols

    for seed, symbols in drawn.items():
        assert symbols == tuple(params.symbols[i] for i in judged_coins(6, 3, seed))
        assert len(set(symbols)) == 3
    assert len(set(drawn.values())) > 1  # not always the first three by name
    assert judged_coins(6, 3, 5) == judged_coins(6, 3, 5)  # same seed, same coins
    assert cycled[:6] == params.symbols and cycled[6:] == params.symbols[:2]
