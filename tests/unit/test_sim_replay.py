"""Replay of recorded OHLCV, and intra-bar ticks that depend on their own bar only."""

from __future__ import annotations

import gzip
import shutil
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from exchange.sim.bars import MinuteBars
from exchange.sim.replay import ReplayError, ReplaySource, decimals_needed
from exchange.sim.ticks import synthesize_ticks
from model.market import MINUTE_MS

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sim_replay"
FIRST_MS = 1509836520000


def load(directory: Path = FIXTURE, ticks_per_bar: int = 4) -> ReplaySource:
    return ReplaySource.from_dir(directory, ticks_per_bar=ticks_per_bar, seed=3)


def test_only_one_minute_files_become_symbols() -> None:
    source = load()
    assert source.symbols == ["AAABTC", "BBBUSDT"]
    assert [(i.base, i.quote) for i in source.instruments] == [("AAA", "BTC"), ("BBB", "USDT")]


def test_rules_are_inferred_from_the_decimals_in_the_data() -> None:
    aaa, bbb = load().instruments
    assert aaa.tick == Decimal("0.00000001") and aaa.lot == Decimal("0.00000001")
    assert bbb.tick == Decimal("0.01") and bbb.lot == Decimal("0.001")
    assert 0 < aaa.min_notional <= Decimal("0.001") and 0 < bbb.min_notional <= 10


def test_decimals_needed_reads_float_data() -> None:
    assert decimals_needed(np.array([100.0, 101.5, 99.25])) == 2
    assert decimals_needed(np.array([4.5e-05, 0.04032524])) == 8
    assert decimals_needed(np.array([1.2e-7, 0.5])) == 8
    assert decimals_needed(np.array([30000.01, 0.00001])) == 5
    assert decimals_needed(np.array([0.123456789123])) == 8  # capped


def test_clock_starts_after_warm_up_and_uses_the_datas_timestamps() -> None:
    source = load()
    assert source.now_ms == FIRST_MS + 4 * MINUTE_MS  # 8 minutes of data: half is warm-up
    history = source.bars_before("BBBUSDT", 10**15, limit=100)
    assert history.open_ms.tolist() == [FIRST_MS + m * MINUTE_MS for m in range(4)]


def test_missing_minute_is_no_trade_not_a_bar() -> None:
    source = load()
    history = source.bars_before("AAABTC", 10**15, limit=100)
    assert history.open_ms.tolist() == [FIRST_MS + m * MINUTE_MS for m in (0, 1, 2)]
    minutes = []
    while (data := source.advance()) is not None:
        minutes.append((data.bars.open_ms, [source.symbols[i] for i in data.bars.index]))
    assert minutes[0] == (FIRST_MS + 4 * MINUTE_MS, ["AAABTC", "BBBUSDT"])
    assert len(minutes) == 4 and source.advance() is None
    full = source.bars_before("AAABTC", 10**15, limit=100)
    assert FIRST_MS + 3 * MINUTE_MS not in full.open_ms.tolist() and len(full) == 7


def test_replayed_prices_keep_their_recorded_values() -> None:
    source = load()
    data = source.advance()
    assert data is not None
    k = list(data.bars.index).index(1)
    assert (data.bars.open[k], data.bars.close[k], data.bars.volume[k]) == (104.0, 104.75, 5.625)


def test_ticks_walk_open_low_high_close_on_up_bars_with_bid_below_ask() -> None:
    source = load()
    data = source.advance()
    assert data is not None
    bars, ticks = data.bars, data.ticks
    k = list(bars.index).index(1)  # BBBUSDT: up bar 104 -> 104.75, low 103.25, high 105.5
    assert ticks.last[:, k].tolist() == [104.0, 103.25, 105.5, 104.75]
    assert (ticks.bid < ticks.ask).all()
    tick = source.tick[bars.index]
    for prices in (ticks.bid, ticks.ask, ticks.last):
        assert np.abs(prices / tick - np.round(prices / tick)).max() < 1e-6
    assert (np.diff(ticks.ts_event) > 0).all()
    assert bars.open_ms <= ticks.ts_event[0] and ticks.ts_event[-1] < bars.open_ms + MINUTE_MS


def test_down_bars_visit_the_high_first() -> None:
    bars = MinuteBars(
        open_ms=FIRST_MS,
        index=np.array([0]),
        open=np.array([10.0]),
        high=np.array([10.5]),
        low=np.array([9.0]),
        close=np.array([9.5]),
        volume=np.array([5.0]),
        quote_volume=np.array([50.0]),
        trades=np.array([3]),
        first_trade_id=np.array([0]),
    )
    ticks = synthesize_ticks(bars, np.array([0.5]), np.array([0.1]), np.array([5.0]), 4, seed=1)
    assert ticks.last[:, 0].tolist() == [10.0, 10.5, 9.0, 9.5]
    assert (ticks.bid_qty >= 0.1).all() and (ticks.ask_qty >= 0.1).all()


def _copy_with_changed_bar(source_dir: Path, target: Path, minute: int) -> None:
    target.mkdir()
    for file in source_dir.iterdir():
        shutil.copy(file, target / file.name)
    path = target / "BBB_USDT-1m.csv.gz"
    with gzip.open(path, "rt") as handle:
        lines = handle.read().splitlines()
    stamp = str(FIRST_MS + minute * MINUTE_MS)
    lines = [
        f"{stamp},150.00,190.00,120.00,180.00,99.000" if line.startswith(stamp) else line
        for line in lines
    ]
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")


def test_ticks_of_a_minute_do_not_depend_on_the_next_bar(tmp_path: Path) -> None:
    _copy_with_changed_bar(FIXTURE, tmp_path / "changed", minute=5)
    original, changed = load(), load(tmp_path / "changed")
    a, b = original.advance(), changed.advance()  # minute 4, followed by the changed minute 5
    assert a is not None and b is not None
    for field in ("last", "bid", "ask", "bid_qty", "ask_qty", "last_qty"):
        np.testing.assert_array_equal(getattr(a.ticks, field), getattr(b.ticks, field))
    a5, b5 = original.advance(), changed.advance()
    assert a5 is not None and b5 is not None and not np.array_equal(a5.ticks.last, b5.ticks.last)


def test_directory_without_one_minute_files_is_refused_with_a_hint(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(ReplayError, match=r"-1m\.csv"):
        ReplaySource.from_dir(tmp_path)
    with pytest.raises(ReplayError, match="not found"):
        ReplaySource.from_dir(tmp_path / "missing")


@pytest.mark.shared_data
def test_replays_the_recorded_bittrex_month(shared_data: Path) -> None:
    source = ReplaySource.from_dir(shared_data / "ohlcv" / "freqtrade_bittrex_2017-11")
    assert len(source.symbols) == 20 and "ETHBTC" in source.symbols
    assert all(i.quote == "BTC" for i in source.instruments)
    start = source.now_ms
    assert start == source.store.first_open_ms + 1440 * MINUTE_MS
    gaps = 0
    for _ in range(120):
        data = source.advance()
        assert data is not None
        gaps += len(source.symbols) - len(data.bars)
        tick = source.tick[data.bars.index]
        assert (data.ticks.bid < data.ticks.ask).all()
        assert np.abs(data.ticks.last / tick - np.round(data.ticks.last / tick)).max() < 1e-6
    assert gaps > 0  # Bittrex minutes without trades stay absent
    eth = source.bars_before("ETHBTC", start, limit=1000)
    assert len(eth) == 1000 and eth.open_ms[-1] < start
