"""The market generator: seeded, on the tick grid, realistic structure, fast."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from exchange.sim.catalog import upbit_krw_tick
from exchange.sim.generator import INTRADAY_PROFILE, REGIMES, GeneratorSource
from model.market import MINUTE_MS

START_MS = 1_700_000_040_000  # a whole minute
FIELDS = ("open", "high", "low", "close", "volume", "quote_volume")


def make(
    seed: int = 7, coins: int = 30, days: float = 31, ticks_per_bar: int = 4
) -> GeneratorSource:
    return GeneratorSource(
        seed=seed,
        coins=coins,
        history_minutes=int(days * 1440),
        start_ms=START_MS,
        ticks_per_bar=ticks_per_bar,
    )


@pytest.fixture(scope="module")
def month() -> GeneratorSource:
    return make()


def columns(source: GeneratorSource) -> dict[str, np.ndarray]:
    rows = slice(0, source.store.rows)
    return {f: source.store.column(f, rows) for f in FIELDS}


def test_default_month_of_thirty_coins_is_a_full_minute_grid() -> None:
    source = make()
    assert source.store.rows == 44_640 and len(source.symbols) == 30


def test_history_ends_just_before_start(month: GeneratorSource) -> None:
    assert month.now_ms == START_MS
    assert month.store.first_open_ms == START_MS - 44_640 * MINUTE_MS


def test_same_seed_gives_identical_instruments_and_bars(month: GeneratorSource) -> None:
    again = make()
    assert again.instruments == month.instruments
    for field, values in columns(month).items():
        np.testing.assert_array_equal(columns(again)[field], values, err_msg=field)


def test_different_seed_gives_a_different_market(month: GeneratorSource) -> None:
    other = make(seed=8)
    assert not np.array_equal(columns(other)["close"], columns(month)["close"])


def test_forward_steps_are_deterministic() -> None:
    first, second = make(days=1), make(days=1)
    for _ in range(5):
        a, b = first.advance(), second.advance()
        assert a.bars.open_ms == b.bars.open_ms
        np.testing.assert_array_equal(a.bars.close, b.bars.close)
        np.testing.assert_array_equal(a.ticks.last, b.ticks.last)
        np.testing.assert_array_equal(a.ticks.bid_qty, b.ticks.bid_qty)
    assert first.now_ms == START_MS + 5 * MINUTE_MS


def test_forward_steps_continue_the_price_path(month: GeneratorSource) -> None:
    source = make(days=1)
    last_close = source.store.column("close", slice(source.store.rows - 1, source.store.rows))[0]
    step = source.advance()
    np.testing.assert_array_equal(step.bars.open, last_close)
    previous = step
    for _ in range(500):  # minute after minute, each bar opens at the last one's close
        step = source.advance()
        np.testing.assert_array_equal(step.bars.open, previous.bars.close)
        previous = step


def test_symbols_are_unique_and_mix_usdt_btc_and_krw_quotes(month: GeneratorSource) -> None:
    assert len(set(month.symbols)) == len(month.symbols)
    quotes = {i.quote for i in month.instruments}
    assert {"USDT", "BTC", "KRW"} <= quotes
    assert all(i.symbol == i.base + i.quote for i in month.instruments)
    assert len(set(make(coins=120, days=0).symbols)) == 120


def test_prices_are_positive_and_on_each_instruments_tick_grid(month: GeneratorSource) -> None:
    cols = columns(month)
    for field in ("open", "high", "low", "close"):
        values = cols[field]
        assert (values > 0).all(), field
        in_ticks = values / month.tick
        assert np.abs(in_ticks - np.round(in_ticks)).max() < 1e-6, field
    assert (cols["high"] >= np.maximum(cols["open"], cols["close"])).all()
    assert (cols["low"] <= np.minimum(cols["open"], cols["close"])).all()


def test_binance_style_rules_follow_price_level(month: GeneratorSource) -> None:
    rules = {i.symbol: (str(i.tick), str(i.lot), str(i.min_notional)) for i in month.instruments}
    assert rules["BTCUSDT"] == ("0.01", "0.00001", "5")
    assert rules["QRXUSDT"] == ("0.0001", "0.1", "5")
    assert any(i.quote == "BTC" and i.tick == Decimal("0.00000001") for i in month.instruments)


def test_krw_coins_span_at_least_four_upbit_tick_bands(month: GeneratorSource) -> None:
    closes = columns(month)["close"]
    krw = [k for k, i in enumerate(month.instruments) if i.quote == "KRW"]
    assert len({month.instruments[k].tick for k in krw}) >= 4
    for k in krw:
        assert month.instruments[k].tick == upbit_krw_tick(closes[0, k]), month.symbols[k]
        in_band = [upbit_krw_tick(p) == month.instruments[k].tick for p in closes[::60, k]]
        assert np.mean(in_band) > 0.9, f"{month.symbols[k]} left its Upbit band"


@pytest.mark.parametrize("seed", [7, 1, 2])
def test_every_regime_occurs_within_a_month(seed: int) -> None:
    source = month_for(seed)
    assert set(np.unique(source.regimes())) == set(range(len(REGIMES)))


def month_for(seed: int) -> GeneratorSource:
    return make(seed=seed, coins=2)


def test_volatility_is_higher_in_high_volatility_regimes(month: GeneratorSource) -> None:
    returns = np.diff(np.log(columns(month)["close"]), axis=0)
    regimes = month.regimes()[1:]
    high = np.isin(regimes, [r for r, name in enumerate(REGIMES) if name.endswith("high")])
    assert returns[high].std() > 1.5 * returns[~high].std()


def test_volumes_are_non_negative_with_a_u_shaped_intraday_profile(month: GeneratorSource) -> None:
    cols = columns(month)
    assert (cols["volume"] >= 0).all() and (cols["quote_volume"] >= 0).all()
    open_ms = month.store.first_open_ms + np.arange(month.store.rows) * MINUTE_MS
    hour = (open_ms // 3_600_000) % 24
    relative = cols["quote_volume"] / cols["quote_volume"].mean(axis=0)
    by_hour = np.array([relative[hour == h].mean() for h in range(24)])
    assert by_hour[[0, 23]].mean() > 1.3 * by_hour[[11, 12]].mean()
    assert np.corrcoef(by_hour, INTRADAY_PROFILE)[0, 1] > 0.8


def test_volume_rises_with_absolute_return(month: GeneratorSource) -> None:
    cols = columns(month)
    k = month.symbols.index("ETHUSDT")
    move = np.abs(np.log(cols["close"][:, k] / cols["open"][:, k]))
    volume = cols["volume"][:, k]
    big = move > np.quantile(move, 0.9)
    small = move < np.quantile(move, 0.5)
    assert volume[big].mean() > 1.5 * volume[small].mean()


def test_returns_are_correlated_through_the_market_factor(month: GeneratorSource) -> None:
    returns = np.diff(np.log(columns(month)["close"]), axis=0)
    usdt = [k for k, i in enumerate(month.instruments) if i.quote == "USDT"]
    corr = np.corrcoef(returns[:, usdt].T)
    off_diagonal = corr[~np.eye(len(usdt), dtype=bool)]
    assert 0.05 < off_diagonal.mean() < 0.9


def test_bars_before_returns_latest_or_earliest_closed_bars(month: GeneratorSource) -> None:
    latest = month.bars_before("BTCUSDT", 10**15, limit=3)
    assert latest.open_ms.tolist() == [
        START_MS - 3 * MINUTE_MS,
        START_MS - 2 * MINUTE_MS,
        START_MS - MINUTE_MS,
    ]
    start = month.store.first_open_ms + 10 * MINUTE_MS
    earliest = month.bars_before("BTCUSDT", START_MS, limit=2, start_ms=start)
    assert earliest.open_ms.tolist() == [start, start + MINUTE_MS]
