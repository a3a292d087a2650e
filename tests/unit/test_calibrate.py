"""Calibration: from a panel generated with known parameters, `fit` recovers the main ones;
data it cannot fit on is refused with a message that names the coin."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from exchange.sim.calibrate import CalibrationError, fit, simulate_panel
from exchange.sim.stylized_facts import Panel
from tests.market_params_example import example_params

START_MS = 1_700_006_400_000


@pytest.fixture(scope="module")
def known_panel() -> Panel:
    return simulate_panel(example_params(coins=4), minutes=4 * 1440, start_ms=START_MS, seed=21)


def test_fit_recovers_vol_level_spread_and_no_trade_share(known_panel: Panel) -> None:
    known = example_params(coins=4)
    fitted = fit(known_panel, rounds=4)
    vol, spread = np.array(fitted.vol_per_min), np.array(fitted.half_spread_bps)
    # four days of four coins whose volatility wanders (log-vol variance 1): the median
    # coin within 25 %, every coin within a factor 2
    assert abs(np.median(vol) / known.vol_per_min[0] - 1) < 0.25, vol
    assert abs(np.median(spread) / known.half_spread_bps[0] - 1) < 0.25, spread
    assert np.all((vol > known.vol_per_min[0] / 2) & (vol < 2 * known.vol_per_min[0])), vol
    assert np.all((spread > 7.5) & (spread < 30.0)), spread
    # no_trade_prob is the base odds that activity moves, so the share is what must match:
    # the fitted market's quiet minutes within 5 points of the known market's
    again = simulate_panel(fitted, minutes=4 * 1440, start_ms=START_MS, seed=22)
    assert abs(_quiet_share(again) - _quiet_share(known_panel)) < 0.05
    assert fitted.symbols == known_panel.symbols


def _quiet_share(panel: Panel) -> float:
    return float(np.isnan(panel.close).mean())


def _panel(close: np.ndarray, volume: np.ndarray) -> Panel:
    return Panel(start_ms=START_MS, open=close, high=close, low=close, close=close,
                 volume=volume, symbols=tuple(f"C{i}BTC" for i in range(close.shape[1])))


def test_too_little_data_is_refused(known_panel: Panel) -> None:
    with pytest.raises(CalibrationError, match="two days"):
        fit(known_panel.rows(0, 1000))


def test_constant_prices_are_refused_naming_the_coin(known_panel: Panel) -> None:
    close = known_panel.close.copy()
    close[:, 2] = 0.5
    with pytest.raises(CalibrationError, match="C2BTC: constant price"):
        fit(_panel(close, known_panel.volume))


def test_missing_volume_is_refused_naming_the_coin(known_panel: Panel) -> None:
    volume = known_panel.volume.copy()
    volume[:, 1] = np.nan
    with pytest.raises(CalibrationError, match="C1BTC: no volume"):
        fit(_panel(known_panel.close, volume))


def test_one_coin_fits_with_beta_one_and_no_factor(known_panel: Panel) -> None:
    one = Panel(start_ms=START_MS, open=known_panel.open[:, :1], high=known_panel.high[:, :1],
                low=known_panel.low[:, :1], close=known_panel.close[:, :1],
                volume=known_panel.volume[:, :1], symbols=known_panel.symbols[:1])
    fitted = fit(one, rounds=1)
    assert fitted.beta == (1.0,) and fitted.factor_vol_per_min == 0.0
    assert replace(fitted).coins == 1
