"""The calibrated market model: seeded, resumable bit for bit, valid bars, and the facts it
is built to show (bounce, clustered volatility, weak 1m / stronger 1h co-movement)."""

from __future__ import annotations

import numpy as np
import pytest

from exchange.sim.calibrate import simulate_panel
from exchange.sim.generator import GeneratorSource
from exchange.sim.market_model import MarketModel, ModelBars
from exchange.sim.stylized_facts import stylized_facts
from tests.market_params_example import example_params

START_MS = 1_700_006_400_000  # 2023-11-15 00:00 UTC
TICK = np.array([1e-8, 0.01, 1e-6, 0.1])
LOT = np.array([0.01, 1e-5, 1.0, 0.001])
PRICE = np.array([0.04, 30_000.0, 0.0005, 200.0])
QUOTE_VOLUME = np.array([0.5, 1e5, 0.3, 2e4])


def model(seed: int = 3) -> MarketModel:
    return MarketModel(example_params(coins=4), seed=seed, tick=TICK, lot=LOT, price=PRICE,
                       quote_volume_per_min=QUOTE_VOLUME, start_ms=START_MS)


def test_same_seed_same_bars_and_another_seed_other_bars() -> None:
    first, again, other = model(3).generate(500), model(3).generate(500), model(4).generate(500)
    for name, values in first.columns.items():
        assert np.array_equal(values, again.columns[name]), name
    assert not np.array_equal(first.columns["close"], other.columns["close"])


def test_advancing_one_minute_at_a_time_equals_one_block_bit_for_bit() -> None:
    block = model().generate(400)
    stepper = model()
    steps = [stepper.generate(1) for _ in range(150)] + [stepper.generate(250)]
    for name, values in block.columns.items():
        stepped = np.vstack([step.columns[name] for step in steps])
        assert np.array_equal(values, stepped), name
    assert np.array_equal(block.traded, np.vstack([s.traded for s in steps]))
    assert np.array_equal(block.trades, np.vstack([s.trades for s in steps]))
    assert np.array_equal(block.regimes, np.concatenate([s.regimes for s in steps]))
    assert stepper.now_ms == START_MS + 400 * 60_000


@pytest.fixture(scope="module")
def day() -> ModelBars:
    return model().generate(1440)


def test_bars_are_valid_on_the_tick_and_lot_grids(day: ModelBars) -> None:
    o, h, low, c, volume = (day.columns[k] for k in ("open", "high", "low", "close", "volume"))
    assert np.all(low <= np.minimum(o, c)) and np.all(h >= np.maximum(o, c))
    assert np.all(low >= TICK)
    for prices in (o, h, low, c):
        assert np.allclose(prices / TICK, np.round(prices / TICK), rtol=0, atol=1e-6)
    assert np.allclose(volume / LOT, np.round(volume / LOT), rtol=0, atol=1e-6)
    assert np.all(volume >= 0) and np.all(volume[day.traded] > 0)
    assert np.all(day.trades[day.traded] >= 1) and np.all(day.trades[~day.traded] == 0)


def test_no_trade_minutes_are_flat_at_the_previous_close_with_no_volume(day: ModelBars) -> None:
    quiet = ~day.traded
    assert 0.03 < quiet.mean() < 0.3  # ~10 % asked for, moved by activity
    close = day.columns["close"]
    for name in ("open", "high", "low", "close"):
        assert np.array_equal(day.columns[name][1:][quiet[1:]], close[:-1][quiet[1:]])
    assert np.all(day.columns["volume"][quiet] == 0)


def test_the_generator_with_params_keeps_quiet_minutes_out_of_the_store() -> None:
    source = GeneratorSource(seed=5, coins=6, history_minutes=300, start_ms=START_MS,
                             params=example_params(coins=4))
    traded = source.store.column("traded", slice(0, 300))
    assert 0 < (~traded).mean() < 0.3
    minute = source.advance()
    assert set(minute.bars.index) <= set(range(6))
    assert np.allclose(source.spread_bps(), 30.0)  # twice the 15 bps half-spread


@pytest.fixture(scope="module")
def panel_facts():  # type: ignore[no-untyped-def]
    panel = simulate_panel(example_params(coins=6), minutes=6 * 1440, start_ms=START_MS,
                           seed=11)
    return stylized_facts(panel)


def test_bounce_gives_a_negative_lag1_autocorrelation_and_a_roll_spread(panel_facts) -> None:  # type: ignore[no-untyped-def]
    # a 30 bps spread on 30 bps/min volatility: rho1 ~ -s^2 / (sigma^2 + 2 s^2) ~ -0.15,
    # diluted by stale quotes and quiet minutes
    assert -0.3 < panel_facts.lag1_acf_1m < -0.05
    assert 0.0020 < panel_facts.roll_spread < 0.0040  # 30 bps asked, within a third


def test_abs_return_autocorrelation_decays_from_lag_1_to_60(panel_facts) -> None:  # type: ignore[no-untyped-def]
    acf = panel_facts.abs_return_acf
    assert acf[0] > 0.1
    assert acf[0] > acf[14] > acf[59] > 0.0


def test_cross_coin_correlation_is_weak_at_1m_and_stronger_at_1h(panel_facts) -> None:  # type: ignore[no-untyped-def]
    assert abs(panel_facts.cross_coin_corr_1m) < 0.1
    assert panel_facts.cross_coin_corr_1h > 2 * max(panel_facts.cross_coin_corr_1m, 0.02)


def test_the_sim_config_names_a_parameter_file_and_open_source_uses_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.config import SimConfig
    from exchange.sim.source import open_source

    path = tmp_path / "params.json"
    example_params(coins=2).save(path)
    calibrated = open_source(SimConfig(coins=3, history_days=0.1, params=str(path)),
                             start_ms=START_MS)
    old = open_source(SimConfig(coins=3, history_days=0.1, params=""), start_ms=START_MS)
    assert calibrated.spread_bps().tolist() == [30.0, 30.0, 30.0]
    assert not np.array_equal(calibrated.store.column("close", slice(0, 144)),
                              old.store.column("close", slice(0, 144)))


def test_the_generator_advancing_with_params_equals_a_longer_history() -> None:
    def source(history: int) -> GeneratorSource:
        return GeneratorSource(seed=6, coins=5, history_minutes=history,
                               start_ms=START_MS + history * 60_000, params=example_params(3))

    stepped, longer = source(200), source(260)
    for _ in range(60):
        stepped.advance()
    rows = slice(0, 260)
    for field in ("open", "high", "low", "close", "volume", "traded"):
        assert np.array_equal(stepped.store.column(field, rows), longer.store.column(field, rows))
