"""Nothing in one symbol's market data can stop the engine: the symbol whose bar or tick
raises is isolated, the others keep deciding."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from bot.config import StrategyConfig
from model.market import MINUTE_MS, Bar, BarHistory, Tick, TickBatch
from tests.waiting import async_wait_until
from trading.engine import Engine

T0 = 1_700_000_000_000 - 1_700_000_000_000 % MINUTE_MS
SYMBOLS = ["GOODUSDT", "BADUSDT", "OKUSDT"]


class QuietPolicy:
    """The engine's only call on a policy between steps; deciding is the fake trader's."""

    def between_steps(self, symbols: list[str]) -> None:
        pass


class FillsBreakOn:
    """A trader whose fill model raises on one symbol's bars (a NaN in its data, say)."""

    anomaly = None
    policy = QuietPolicy()

    def __init__(self, broken: str) -> None:
        self.broken = broken
        self.filled: list[Bar] = []
        self.steps: list[int] = []

    def on_bars(self, bars: list[Bar]) -> None:
        if any(bar.symbol == self.broken for bar in bars):
            raise ValueError("fill kernel: NaN price")
        self.filled.extend(bars)

    def step(self, ts_ms: int, book: Any, ranking: Any, features: Any) -> None:
        self.steps.append(ts_ms)


def bar(symbol: str, minute: int, close: float = 100.0) -> Bar:
    return Bar(symbol, T0 + minute * MINUTE_MS, close, close * 1.001, close * 0.999, close,
               1.0, close)


def history(symbol: str, close: float = 100.0, minutes: int = 60) -> BarHistory:
    opens = T0 - MINUTE_MS * np.arange(minutes, 0, -1, dtype=np.int64)
    closes = np.full(minutes, close)
    return BarHistory(symbol, opens, closes, closes * 1.001, closes * 0.999, closes,
                      np.ones(minutes), closes)


def engine_with(trader: Any = None) -> Engine:
    engine = Engine(SYMBOLS, StrategyConfig(), trader=trader)
    for symbol in SYMBOLS:
        engine.on_history(history(symbol))
    return engine


def test_a_symbol_whose_fills_raise_is_isolated_and_the_others_keep_deciding() -> None:
    trader = FillsBreakOn("BADUSDT")
    engine = engine_with(trader)
    for minute in range(3):
        for symbol in SYMBOLS:
            engine.on_bar(bar(symbol, minute))
        engine.decide()
    assert set(engine.isolated) == {"BADUSDT"}
    assert "ValueError" in engine.isolated["BADUSDT"]
    assert {b.symbol for b in trader.filled} == {"GOODUSDT", "OKUSDT"}
    assert len([b for b in trader.filled if b.symbol == "GOODUSDT"]) == 3
    assert trader.steps == [T0 + (m + 1) * MINUTE_MS for m in range(3)]


def test_an_isolated_symbol_no_longer_holds_back_a_complete_minute() -> None:
    trader = FillsBreakOn("BADUSDT")
    engine = engine_with(trader)
    for symbol in SYMBOLS:
        engine.on_bar(bar(symbol, 0))
    engine.decide()
    engine.on_bar(bar("GOODUSDT", 1))
    engine.on_bar(bar("OKUSDT", 1))
    assert engine._minute_complete.is_set()  # two of the three, the third is isolated


def test_a_tick_that_raises_isolates_only_its_symbol() -> None:
    engine = engine_with()
    real_on_tick = engine.book.on_tick

    def on_tick(tick: Tick) -> None:
        if tick.symbol == "BADUSDT":
            raise RuntimeError("boom")
        real_on_tick(tick)

    engine.book.on_tick = on_tick  # type: ignore[method-assign]
    for symbol in SYMBOLS:
        engine.on_tick(Tick(symbol, T0, T0, 100.0, 99.9, 100.1, 1.0, 1.0, 1.0, 100.0))
    assert list(engine.isolated) == ["BADUSDT"]
    engine.decide()  # still decides


def test_a_ticker_array_row_that_raises_isolates_only_its_symbol() -> None:
    engine = engine_with()
    real = engine.book.on_tick_batch
    real_tick = engine.book.on_tick

    def on_tick_batch(batch: TickBatch) -> None:
        if "BADUSDT" in batch.symbols:
            raise RuntimeError("boom")
        real(batch)

    def on_tick(tick: Tick) -> None:
        if tick.symbol == "BADUSDT":
            raise RuntimeError("boom")
        real_tick(tick)

    engine.book.on_tick_batch = on_tick_batch  # type: ignore[method-assign]
    engine.book.on_tick = on_tick  # type: ignore[method-assign]
    n = len(SYMBOLS)
    batch = TickBatch(tuple(SYMBOLS), np.full(n, T0, dtype=np.int64), T0, np.full(n, 100.0),
                      np.full(n, 99.9), np.full(n, 100.1), np.ones(n), np.ones(n), np.ones(n),
                      np.full(n, 100.0))
    engine.on_tick_batch(batch)
    assert list(engine.isolated) == ["BADUSDT"] and engine.ticks_seen == n


def test_a_bogus_bar_never_reaches_fills_or_features() -> None:
    trader = FillsBreakOn("none")
    engine = engine_with(trader)
    engine.on_bar(bar("GOODUSDT", 0, close=100_000.0))
    engine.on_bar(bar("OKUSDT", 0))
    engine.decide()
    engine.on_bar(bar("GOODUSDT", 1))  # the market says no: the bogus bar is rejected
    engine.decide()
    assert all(b.close < 1_000 for b in trader.filled)
    assert engine.prints.counts().rejected_bars == 1
    returns = engine.book.recent_returns(5)
    assert np.nanmax(np.abs(returns)) < 0.01  # no 1000x minute in the features


def test_a_decision_step_that_raises_is_logged_and_the_loop_goes_on() -> None:
    class StepBreaks(FillsBreakOn):
        def step(self, ts_ms: int, book: Any, ranking: Any, features: Any) -> None:
            super().step(ts_ms, book, ranking, features)
            if len(self.steps) == 1:
                raise ZeroDivisionError("policy bug")

    trader = StepBreaks("none")
    engine = engine_with(trader)
    engine.grace_s = 0.01

    async def scenario() -> None:
        loop = asyncio.create_task(engine.run_decisions())
        try:
            for minute in range(2):
                for symbol in SYMBOLS:
                    engine.on_bar(bar(symbol, minute))
                await async_wait_until(lambda m=minute: len(trader.steps) >= m + 1,
                                       what=f"the decision for minute {minute}")
        finally:
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert engine.decision_errors == 1 and len(trader.steps) == 2


def test_a_full_disk_is_not_a_symbols_fault_and_stops_the_decision_loop() -> None:
    """The ledger could not record the fills: no symbol is isolated, the error goes up to
    the daemon (which stops with one line naming the data dir) instead of being retried."""
    import sqlite3

    import pytest

    class DiskFull(FillsBreakOn):
        def on_bars(self, bars: list[Bar]) -> None:
            raise sqlite3.OperationalError("database or disk is full")

    trader = DiskFull("none")
    engine = engine_with(trader)
    engine.grace_s = 0.01
    for symbol in SYMBOLS:
        engine.on_bar(bar(symbol, 0))

    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        asyncio.run(asyncio.wait_for(engine.run_decisions(), 10))
    assert engine.isolated == {} and engine.decision_errors == 0 and trader.steps == []
