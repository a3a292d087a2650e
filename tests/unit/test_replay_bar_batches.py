"""A replay minute's closed bars as one BarBatch: the same effects as the per-bar path.

The direct replay hands the engine a minute's klines as columns (`ReplayFeed(...,
on_bar_batch=...)`): judged, sequenced, bad-print filtered, queued and applied to the broker
and the features in bulk, falling back to the per-bar sequence whenever anything is unusual
(a gap, a held or suspicious bar, an invalid row, an isolated symbol). The contract: on the
same source, the wire path (`direct=False`, bar by bar, the live feed's code) and the direct
path with batches leave the same ledger, the same feature book and the same counters, on
clean and on corrupted data.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.app.assembly import make_trader
from bot.config import load_config
from exchange.feeds.replay import ReplayFeed
from exchange.feeds.sanity import FrameValidator
from exchange.feeds.sanity_kernel import bar_rows_pass
from exchange.feeds.sanity_rules import MAX_AMOUNT, MAX_PRICE
from exchange.sim.bars import MinuteData
from exchange.sim.replay import ReplaySource
from exchange.sim.source import MarketSource
from model.instruments import dominant_quote
from model.market import MINUTE_MS, Bar, BarBatch, TickArrays
from state.ledger import Ledger
from strategies.bad_prints import PrintFilter
from strategies.tick_kernel import bars_inside
from tests.integration.test_replay_feed import write_gappy_replay
from tests.unit.test_replay_direct import AlteredSource, Corrupted, generated
from trading.engine import Engine

BOOK_STATE = ("minute", "first_minute", "n_seen", "close", "sum_close", "sum_qv", "sum_ret",
              "sum_ret2", "high", "low", "block_high", "block_low")


class Bogus(AlteredSource):
    """A generated market whose first coin prints 20x its price for two minutes (held, then
    rejected) and from minute 12 on for good (held, then confirmed): the bad-print filter's
    unusual minutes."""

    def alter(self, data: MinuteData) -> MinuteData:
        if self.minutes not in (5, 6) and self.minutes < 12:
            return data
        bars, ticks = data.bars, data.ticks
        scaled = {name: getattr(bars, name).copy() for name in ("open", "high", "low", "close")}
        for column in scaled.values():
            column[0] *= 20.0
        for name in ("last", "bid", "ask"):
            getattr(ticks, name)[:, 0] *= 20.0
        return MinuteData(bars=replace(bars, **scaled), ticks=ticks)


def play(source: MarketSource, *, direct: bool, minutes: int, policy: str,
         isolate: str | None = None, arrays: bool = False) -> dict[str, Any]:
    """Everything a backtest's engine leaves after `minutes` of `source`, comparable.
    `arrays` (direct only): a minute's ticker arrays may come as one TickArrays too; the
    count of those is under "arrays"."""
    config = load_config(None, environ={})
    engine: Engine | None = None
    batches: list[int] = []
    minutes_of_arrays: list[int] = []

    def on_bar_batch(batch: BarBatch) -> None:
        assert engine is not None
        batches.append(len(batch))
        engine.on_bar_batch(batch)

    def on_tick_arrays(arrays: TickArrays) -> None:
        assert engine is not None
        minutes_of_arrays.append(len(arrays))
        engine.on_tick_arrays(arrays)

    feed = ReplayFeed(
        source, direct=direct, all_tickers=True, forming_klines=False,
        on_tick=lambda tick: engine.on_tick(tick),  # type: ignore[union-attr]
        on_bar=lambda bar: engine.on_bar(bar),  # type: ignore[union-attr]
        on_history=lambda history: engine.on_history(history),  # type: ignore[union-attr]
        on_tick_batch=lambda rows: engine.on_tick_batch(rows),  # type: ignore[union-attr]
        on_bar_batch=on_bar_batch if direct else None,
        on_tick_arrays=on_tick_arrays if direct and arrays else None,
    )
    instruments = feed.instruments
    quote = dominant_quote(instruments)
    with tempfile.TemporaryDirectory() as folder:
        ledger = Ledger.open(Path(folder) / "ledger.sqlite",
                             instruments={i.symbol: i for i in instruments}, durable=False)
        try:
            trader = make_trader(config, instruments, ledger, policy=policy, quote_asset=quote,
                                 balance=Decimal(10_000))
            trader.open_account(trader.broker.balances()[quote], source.now_ms)
            engine = Engine(feed.symbols, config.strategy, trader=trader,
                            decision_interval=config.trading.decision_timeframe)
            if isolate is not None:
                engine.isolated[isolate] = "test"
            feed.backfill(60)
            for _ in range(minutes):
                if feed.play_minute() is None:
                    break
                if engine.minute_pending:
                    engine.close_minute()
            digest = ledger.table_digest()
        finally:
            ledger.close()
    rings = engine.book._bars
    return {
        "digest": digest,
        "book": [np.asarray(getattr(rings, name)).tobytes() for name in BOOK_STATE],
        "matrix": engine.book.matrix().tobytes(),
        "prints": engine.prints.counts(),
        "invalid": dict(feed._validator.invalid),
        "newest_ms": feed._validator.newest_ms,
        "bars": (feed.bars, feed.gaps_filled, engine.bars_seen, engine.steps),
        "last_price": dict(trader.last_price),
        "batches": batches,
        "arrays": minutes_of_arrays,
        "ticks": engine.ticks_seen,
        "messages": feed.messages if direct else None,  # the wire path counts every frame
    }


def assert_same(make_source: Callable[[], MarketSource], *, minutes: int = 30,
                policy: str = "sma", isolate: str | None = None) -> dict[str, Any]:
    wire = play(make_source(), direct=False, minutes=minutes, policy=policy, isolate=isolate)
    direct = play(make_source(), direct=True, minutes=minutes, policy=policy, isolate=isolate)
    batches = direct.pop("batches")
    assert wire.pop("batches") == []
    assert direct.pop("arrays") == wire.pop("arrays") == []
    assert direct.pop("messages") and wire.pop("messages") is None
    assert direct == wire
    return {"batches": batches, **wire}


@pytest.mark.parametrize("policy", ["sma", "buyhold"])
def test_clean_minutes_come_as_batches_with_the_per_bar_effects(policy: str) -> None:
    seen = assert_same(generated(coins=5, seed=3), policy=policy)
    assert len(seen["batches"]) >= 25  # the batch path did the work


def test_refused_and_invalid_klines_fall_back_to_the_per_bar_path() -> None:
    seen = assert_same(lambda: Corrupted(generated(coins=4, seed=6)()))
    assert seen["batches"]  # the clean minutes still come as batches


def test_held_confirmed_and_rejected_prints_fall_back_to_the_per_bar_path() -> None:
    seen = assert_same(lambda: Bogus(generated(coins=4, seed=8)()))
    counts = seen["prints"]
    assert counts.quarantined_bars > 0 and counts.rejected_bars > 0
    assert counts.confirmations > 0


def test_gaps_in_the_played_minutes_fall_back_to_the_per_bar_path() -> None:
    with tempfile.TemporaryDirectory() as folder:
        write_gappy_replay(Path(folder))
        seen = assert_same(lambda: ReplaySource.from_dir(Path(folder), seed=5, ticks_per_bar=3),
                           minutes=20)
    assert seen["bars"][1] == 0  # gap fill finds nothing on a replay, as documented


def test_an_isolated_symbol_makes_the_minute_go_bar_by_bar() -> None:
    make = generated(coins=4, seed=4)
    symbol = make().instruments[1].symbol
    seen = assert_same(make, isolate=symbol)
    assert seen["batches"]


def test_the_compiled_row_checks_agree_with_the_per_bar_checks_row_by_row() -> None:
    rng = np.random.default_rng(21)
    n = 4000
    close = rng.uniform(0.5, 2.0, n)
    columns = {"open": close * rng.uniform(0.95, 1.05, n), "close": close,
               "high": close * rng.uniform(0.97, 1.2, n), "low": close * rng.uniform(0.8, 1.03, n),
               "volume": rng.uniform(-0.1, 5.0, n), "quote_volume": rng.uniform(-0.1, 5.0, n)}
    for name, column in columns.items():  # the odd values a parser lets through, sprinkled
        column[rng.integers(0, n, 40)] = np.nan
        column[rng.integers(0, n, 20)] = 0.0
        column[rng.integers(0, n, 20)] = 2e18 if "volume" in name else 2e12
    validator = FrameValidator()
    ranges = PrintFilter(["S"])
    ranges._low[0], ranges._high[0] = 0.7, 1.6
    one = np.zeros(1)
    for i in range(n):
        row = {name: column[i:i + 1] for name, column in columns.items()}
        bar = Bar("S", 0, *(float(row[k][0]) for k in ("open", "high", "low", "close",
                                                       "volume", "quote_volume")))
        passes = bar_rows_pass(row["open"], row["high"], row["low"], row["close"],
                               row["volume"], row["quote_volume"], one, one + MAX_PRICE,
                               MAX_AMOUNT)
        assert passes == (validator.bar_problem(bar, MINUTE_MS) is None), i
        inside = bars_inside(np.zeros(1, dtype=np.int64), ranges._low, ranges._high,
                             row["low"], row["high"])
        assert inside == (bar.low >= 0.7 and bar.high <= 1.6), i
