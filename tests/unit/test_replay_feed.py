"""ReplayFeed on its own: backfill, minute by minute play, end of data, gaps, options.

Its equality with BinanceFeed over a socket is tested in tests/integration/test_replay_feed.py.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.config import SimConfig
from exchange.feeds.common import ConsumerError
from exchange.feeds.replay import ReplayFeed
from exchange.sim.replay import ReplaySource
from exchange.sim.source import open_source
from model.market import MINUTE_MS, Bar, BarHistory, Tick, TickBatch

START_MS = 1_700_000_040_000
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sim_replay"
FIRST_MS = 1509836520000  # first minute of the fixture; 4 warm-up minutes, 4 played


class Calls:
    """What the feed called, in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.log]

    def of(self, kind: str) -> list[Any]:
        return [item for k, item in self.log if k == kind]

    def feed(
        self, source: Any, *, history: bool = True, batch: bool = True, **kw: Any
    ) -> ReplayFeed:
        return ReplayFeed(
            source,
            on_tick=lambda t: self.log.append(("tick", t)),
            on_bar=lambda b: self.log.append(("bar", b)),
            on_history=(lambda h: self.log.append(("history", h))) if history else None,
            on_tick_batch=(lambda b: self.log.append(("batch", b))) if batch else None,
            **kw,
        )


def generator(seed: int = 3, coins: int = 3) -> Any:
    # The old generator (params=""), where every minute trades: these tests check the feed's
    # window arithmetic on a gapless market; gaps have their own fixture (`fixture()`).
    return open_source(SimConfig(coins=coins, seed=seed, history_days=0.5, params=""), START_MS)


def fixture() -> ReplaySource:
    return ReplaySource.from_dir(FIXTURE, seed=3)


def write_series(directory: Path, name: str, minutes: list[int], first_ms: int) -> None:
    lines = ["timestamp_ms,open,high,low,close,volume"]
    for m in minutes:
        price = 100.0 + m
        row = (first_ms + m * MINUTE_MS, price, price + 1, price - 1, price + 0.5, 2.5)
        lines.append(",".join(map(str, row)))
    with gzip.open(directory / f"{name}-1m.csv.gz", "wt") as out:
        out.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------- backfill


def test_backfill_delivers_the_window_oldest_first_one_history_per_symbol() -> None:
    calls = Calls()
    feed = calls.feed(generator())
    feed.backfill(120)
    histories: list[BarHistory] = calls.of("history")
    assert calls.kinds() == ["history"] * 3 and [h.symbol for h in histories] == feed.symbols
    expected = [feed.now_ms - (120 - m) * MINUTE_MS for m in range(120)]
    for history in histories:
        assert history.open_ms.tolist() == expected  # the generator trades every minute
        assert (history.low <= np.minimum(history.open, history.close)).all()


def test_backfill_skips_missing_minutes_and_empty_symbols() -> None:
    calls = Calls()
    feed = calls.feed(fixture())
    assert feed.now_ms == FIRST_MS + 4 * MINUTE_MS
    feed.backfill(100)
    opens = {h.symbol: h.open_ms.tolist() for h in calls.of("history")}
    assert opens == {
        "AAABTC": [FIRST_MS + m * MINUTE_MS for m in (0, 1, 2)],  # minute 3 has no trade
        "BBBUSDT": [FIRST_MS + m * MINUTE_MS for m in (0, 1, 2, 3)],
    }


def test_backfill_without_on_history_goes_bar_by_bar_and_resumes_without_repeats() -> None:
    calls = Calls()
    feed = calls.feed(generator(coins=2), history=False)
    feed.backfill(5)
    assert calls.kinds() == ["bar"] * 10
    feed.play_minute()
    feed.backfill(5)  # a catch-up: everything is already delivered
    bars: list[Bar] = calls.of("bar")
    for symbol in feed.symbols:
        opens = [b.open_ms for b in bars if b.symbol == symbol]
        assert opens == [feed.now_ms - (6 - m) * MINUTE_MS for m in range(6)]
    calls.log.clear()
    feed.backfill(0)
    assert calls.log == []


# ---------------------------------------------------------------- playing


def test_play_minute_returns_each_open_time_then_none_at_the_end_of_data() -> None:
    calls = Calls()
    feed = calls.feed(fixture())
    opens = []
    while (open_ms := feed.play_minute()) is not None:
        opens.append(open_ms)
        assert feed.now_ms == open_ms + MINUTE_MS
    assert opens == [FIRST_MS + m * MINUTE_MS for m in (4, 5, 6, 7)]
    assert feed.finished and feed.play_minute() is None and feed.play_minute() is None
    bars: list[Bar] = calls.of("bar")
    assert [(b.symbol, b.open_ms) for b in bars] == [
        (s, o) for o in opens for s in ("AAABTC", "BBBUSDT")
    ]
    assert calls.kinds()[-1] == "bar"


def test_a_minute_plays_ticks_at_their_own_time_then_its_closed_bars() -> None:
    calls = Calls()
    feed = calls.feed(generator(coins=3), all_tickers=True)
    open_ms = feed.play_minute()
    assert open_ms is not None
    assert calls.kinds() == ["batch"] * 4 + ["bar"] * 3  # ticks_per_bar=4, 3 coins
    for batch in calls.of("batch"):
        assert isinstance(batch, TickBatch) and batch.symbols == tuple(feed.symbols)
        assert (batch.ts_event == batch.ts_recv).all()  # ts_recv: the frame's market time
        assert open_ms <= batch.ts_recv < open_ms + MINUTE_MS
    assert all(b.open_ms == open_ms and b.trades > 0 for b in calls.of("bar"))


def test_per_symbol_tickers_without_all_tickers() -> None:
    calls = Calls()
    feed = calls.feed(generator(coins=2), all_tickers=False)
    feed.play_minute()
    assert calls.kinds() == ["tick"] * 8 + ["bar"] * 2
    ticks: list[Tick] = calls.of("tick")
    assert [t.symbol for t in ticks] == feed.symbols * 4
    assert all(t.bid <= t.ask and t.ts_recv == t.ts_event for t in ticks)


def test_missing_minutes_produce_no_bar_and_no_tick(tmp_path: Path) -> None:
    first = 1_600_000_020_000
    write_series(tmp_path, "AAA_USDT", [m for m in range(20) if m not in (12, 13, 16)], first)
    write_series(tmp_path, "BBB_USDT", [m for m in range(20) if m != 16], first)
    calls = Calls()
    feed = calls.feed(ReplaySource.from_dir(tmp_path), all_tickers=False)
    assert feed.run() == 10  # minutes 10..19 (half the data is warm-up)
    for symbol, missing in (("AAAUSDT", {12, 13, 16}), ("BBBUSDT", {16})):
        played = [m for m in range(10, 20) if m not in missing]
        bars = [b.open_ms for b in calls.of("bar") if b.symbol == symbol]
        assert bars == [first + m * MINUTE_MS for m in played]
        ticked = {(t.ts_event - first) // MINUTE_MS for t in calls.of("tick") if t.symbol == symbol}
        assert ticked == set(played)
    assert feed.gaps_filled == 0  # the gap fill finds no bar where nothing traded


def test_skipping_forming_klines_changes_no_callback() -> None:
    full, lean = Calls(), Calls()
    for calls, forming in ((full, True), (lean, False)):
        feed = calls.feed(generator(seed=8), forming_klines=forming)
        feed.backfill(30)
        feed.run(max_minutes=5)
    assert len(full.log) == len(lean.log) == 3 + 5 * (4 + 3)
    assert repr(full.log) == repr(lean.log)  # dataclass reprs: every field, exact floats


def test_symbols_subset_filters_every_callback() -> None:
    calls = Calls()
    source = generator(coins=4)
    feed = calls.feed(source, symbols=[source.instruments[2].symbol.lower()])
    feed.backfill(10)
    feed.run(max_minutes=2)
    (only,) = feed.symbols
    assert {h.symbol for h in calls.of("history")} == {only}
    assert all(b.symbols == (only,) for b in calls.of("batch"))
    assert {b.symbol for b in calls.of("bar")} == {only}
    assert [i.symbol for i in feed.instruments] == [only]
    with pytest.raises(ValueError, match="NOPEUSDT"):
        calls.feed(generator(), symbols=["NOPEUSDT"])


def test_instruments_come_through_exchange_info_like_the_daemons() -> None:
    source = generator()
    feed = Calls().feed(source)
    for parsed, original in zip(feed.instruments, source.instruments, strict=True):
        assert parsed.symbol == original.symbol
        assert parsed.tick == original.tick and parsed.lot == original.lot
        assert str(parsed.tick) == f"{original.tick:.8f}"  # Binance's 8-decimal strings


def test_a_consumer_exception_surfaces_as_consumer_error() -> None:
    def boom(_: TickBatch) -> None:
        raise KeyError("bug")

    feed = ReplayFeed(generator(), on_tick=print, on_bar=print, on_tick_batch=boom)
    with pytest.raises(ConsumerError) as info:
        feed.play_minute()
    assert isinstance(info.value.__cause__, KeyError)
