"""`[trading] decision_interval`: the engine applies every bar and tick as it comes, and runs
its decision step only when a minute ends on a UTC multiple of the interval."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from bot.config import ConfigError, StrategyConfig, TradingConfig, load_config
from model.market import MINUTE_MS, Bar, BarHistory, Tick
from model.timeframes import HOUR_MS, Timeframe
from tests.waiting import async_wait_until
from trading.engine import Engine

T0 = 1_700_000_000_000 // HOUR_MS * HOUR_MS  # on the hour, so on every 5m boundary
SYMBOLS = ["BTCUSDT", "ETHUSDT"]


class QuietPolicy:
    def between_steps(self, symbols: list[str]) -> None:
        pass


class RecordingTrader:
    """What the engine hands a trader: every minute's bars (fills) and the decision steps."""

    anomaly = None
    policy = QuietPolicy()

    def __init__(self) -> None:
        self.bar_minutes: list[int] = []
        self.steps: list[int] = []
        self.features: list[np.ndarray] = []

    def on_bars(self, bars: list[Bar]) -> None:
        self.bar_minutes.extend(sorted({(b.open_ms - T0) // MINUTE_MS for b in bars}))

    def step(self, ts_ms: int, book: Any, ranking: Any, features: np.ndarray) -> None:
        self.steps.append(ts_ms)
        self.features.append(features)


def bar(symbol: str, minute: int) -> Bar:
    close = 100.0 + minute + (5.0 if symbol == "ETHUSDT" else 0.0)
    return Bar(symbol, T0 + minute * MINUTE_MS, close, close * 1.001, close * 0.999, close,
               1.0, close)


def tick(symbol: str, minute: int) -> Tick:
    """A ticker half-way through `minute` (older than the minute's bar, so "last" is the
    bar's close in both engines compared below)."""
    ts = T0 + minute * MINUTE_MS + 30_000
    nan = float("nan")
    return Tick(symbol, ts, ts, 100.5 + minute, 100.4 + minute, 100.6 + minute, 1.0, 1.0,
                nan, nan)


def warm(engine: Engine) -> None:
    opens = T0 - MINUTE_MS * np.arange(120, 0, -1, dtype=np.int64)
    closes = np.full(120, 100.0)
    for symbol in SYMBOLS:
        engine.on_history(BarHistory(symbol, opens, closes, closes, closes, closes,
                                     np.ones(120), closes))


def replay(interval: Timeframe, minutes: range, skip: frozenset[int] = frozenset()
           ) -> tuple[Engine, RecordingTrader]:
    """Play `minutes` of bars (none at all in the `skip` minutes), closing each minute as
    the replay backtest does."""
    trader = RecordingTrader()
    engine = Engine(SYMBOLS, StrategyConfig(), trader=trader,  # type: ignore[arg-type]
                    decision_interval=interval)
    warm(engine)
    for minute in minutes:
        if minute in skip:
            continue
        for symbol in SYMBOLS:
            engine.on_tick(tick(symbol, minute))
            engine.on_bar(bar(symbol, minute))
        if engine.minute_pending:
            engine.close_minute()
    return engine, trader


def test_a_5m_engine_decides_only_when_a_minute_ends_on_a_5m_boundary() -> None:
    engine, trader = replay(Timeframe.M5, range(15))
    assert trader.steps == [T0 + 5 * MINUTE_MS, T0 + 10 * MINUTE_MS, T0 + 15 * MINUTE_MS]
    assert engine.steps == 3


def test_between_decisions_every_bar_still_reaches_the_fills_and_the_features() -> None:
    engine, trader = replay(Timeframe.M5, range(13))
    assert trader.bar_minutes == list(range(13))  # fills saw every minute, decided or not
    assert engine.book.warm_minutes("BTCUSDT") == 120 + 13
    assert engine.ticks_seen == 2 * 13


def test_a_5m_step_sees_the_same_features_as_a_1m_step_at_that_minute() -> None:
    _, every_minute = replay(Timeframe.M1, range(10))
    _, every_five = replay(Timeframe.M5, range(10))
    assert len(every_minute.steps) == 10 and len(every_five.steps) == 2
    np.testing.assert_array_equal(every_five.features[-1], every_minute.features[-1])
    np.testing.assert_array_equal(every_five.features[0], every_minute.features[4])


def test_the_default_decides_every_minute_as_before() -> None:
    _, trader = replay(TradingConfig().decision_timeframe, range(4))
    assert trader.steps == [T0 + m * MINUTE_MS for m in range(1, 5)]


def test_a_boundary_minute_in_which_nothing_traded_brings_no_step() -> None:
    # As at 1m, a minute without a single bar is not decided: the next boundary is.
    _, trader = replay(Timeframe.M5, range(12), skip=frozenset({4}))
    assert trader.steps == [T0 + 10 * MINUTE_MS]
    assert 4 not in trader.bar_minutes and 5 in trader.bar_minutes


def test_hourly_decisions_are_aligned_to_utc_hours() -> None:
    _, trader = replay(Timeframe.H1, range(30, 150))
    assert trader.steps == [T0 + HOUR_MS, T0 + 2 * HOUR_MS]


def test_the_live_decision_loop_keeps_to_the_interval() -> None:
    trader = RecordingTrader()
    engine = Engine(SYMBOLS, StrategyConfig(), trader=trader,  # type: ignore[arg-type]
                    grace_s=0.01, decision_interval=Timeframe.M5)
    warm(engine)

    async def scenario() -> None:
        loop = asyncio.create_task(engine.run_decisions())
        try:
            for minute in range(6):
                for symbol in SYMBOLS:
                    engine.on_bar(bar(symbol, minute))
                await async_wait_until(lambda m=minute: m in trader.bar_minutes,
                                       what=f"minute {minute} applied")
        finally:
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert trader.steps == [T0 + 5 * MINUTE_MS]
    assert trader.bar_minutes == list(range(6))


def test_an_unknown_interval_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"trading\.decision_interval = '90s'.*unknown "
                                          r"timeframe '90s'; use one of 1m, 3m, 5m"):
        load_config(None, {"ENTASIS__TRADING__DECISION_INTERVAL": "90s"})
    assert load_config(None, {"ENTASIS__TRADING__DECISION_INTERVAL": "1h"}
                       ).trading.decision_timeframe is Timeframe.H1
