"""The replay feed's direct path against its wire path: the same callbacks, bit for bit.

The wire path serializes the simulator's frames and parses them back (the live feed's code;
its equality with BinanceFeed over a socket is tests/integration/test_replay_feed.py). The
direct path computes the parsed events from the same state (exchange/feeds/replay_direct.py).
Every case plays the same source both ways and compares every callback in order, every
field exactly (floats by their bits), plus the feed's counters.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bot.config import SimConfig
from exchange.feeds.errors import MalformedFrame
from exchange.feeds.replay import ReplayFeed
from exchange.sim.bars import MinuteData
from exchange.sim.protocol import num, num_parsed
from exchange.sim.replay import ReplaySource
from exchange.sim.source import MarketSource, open_source
from tests.integration.test_replay_feed import write_gappy_replay

START_MS = 1_700_000_040_000
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sim_replay"
SHARED_1M = "ohlcv/freqtrade_bittrex_2017-11"


def _exact(value: Any) -> Any:
    """A comparable, bit-exact form: floats as hex (NaN-safe), arrays as dtype + bytes, and
    the Python type kept (a numpy scalar where the parser gives a float is a difference)."""
    if isinstance(value, float):
        return type(value).__name__, value.hex()
    if isinstance(value, np.ndarray):
        return value.dtype.str, value.shape, value.tobytes()
    if isinstance(value, tuple):
        return tuple(_exact(v) for v in value)
    return type(value).__name__, value


def _fields(event: Any) -> tuple[Any, ...]:
    return type(event).__name__, tuple((n, _exact(getattr(event, n))) for n in event.__slots__)


def play(source: MarketSource, *, direct: bool, backfill: int, minutes: int,
         batch: bool = True, **options: Any) -> tuple[list[Any], dict[str, int]]:
    """Every callback of a feed on `source`, in order, and its counters at the end."""
    calls: list[Any] = []
    feed = ReplayFeed(
        source, direct=direct,
        on_tick=lambda tick: calls.append(_fields(tick)),
        on_bar=lambda bar: calls.append(_fields(bar)),
        on_history=lambda history: calls.append(_fields(history)),
        on_tick_batch=(lambda rows: calls.append(_fields(rows))) if batch else None,
        **options,
    )
    feed.backfill(backfill)
    played = feed.run(max_minutes=minutes)
    counters = {"minutes": played, "bars": feed.bars, "gaps_filled": feed.gaps_filled,
                "dropped_rows": feed.dropped_rows, "malformed": feed.malformed,
                "invalid": feed.invalid}
    return calls, counters


def assert_same_both_ways(make_source: Any, **options: Any) -> list[Any]:
    wire, wire_counts = play(make_source(), direct=False, **options)
    direct, direct_counts = play(make_source(), direct=True, **options)
    assert len(direct) == len(wire) > 0
    for number, (got, want) in enumerate(zip(direct, wire)):
        assert got == want, f"callback {number} differs"
    assert direct_counts == wire_counts
    return wire


class AlteredSource:
    """A generated market whose minutes `alter` may change (counted from 1 in `minutes`):
    the unusual data a feed must survive, on an otherwise ordinary source."""

    def __init__(self, source: MarketSource) -> None:
        self._source = source
        self.instruments, self.store = source.instruments, source.store
        self.bars_before, self.spread_bps = source.bars_before, source.spread_bps
        self.minutes = 0

    @property
    def now_ms(self) -> int:
        return self._source.now_ms

    def advance(self) -> MinuteData | None:
        data = self._source.advance()
        if data is None:
            return None
        self.minutes += 1
        return self.alter(data)

    def alter(self, data: MinuteData) -> MinuteData:
        return data


class Corrupted(AlteredSource):
    """A generated market whose minutes carry what the parser refuses: a crossed quote in
    one tick, a NaN bid in another, a kline whose high is below its close."""

    def alter(self, data: MinuteData) -> MinuteData:
        ticks, bars = data.ticks, data.bars
        if self.minutes % 2:
            ticks.bid[1, 0] = ticks.ask[1, 0] * 2.0  # crossed: bid > ask
            ticks.bid[2, 1] = np.nan
        if self.minutes % 3 == 0:
            high = bars.high.copy()
            high[1] = bars.close[1] / 2.0
            bars = replace(bars, high=high)
        return MinuteData(bars=bars, ticks=ticks)


def generated(coins: int = 4, seed: int = 11, **fields: Any) -> Any:
    return lambda: open_source(SimConfig(coins=coins, seed=seed, history_days=1.0, **fields),
                               START_MS)


# ---------------------------------------------------------------- the wire-float rounding


def test_num_parsed_is_float_of_num_for_every_kind_of_value() -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate([
        *(rng.uniform(0.0, scale, 20_000) for scale in (1e-8, 1e-3, 1.0, 1e4, 3e7, 7e7, 1e12)),
        -rng.uniform(0.0, 1.0, 2_000),
        np.round(rng.uniform(0.0, 1.0, 20_000), 9),  # halves at the ninth decimal
        [0.0, -0.0, 5e-9, 1.5e-8, 0.123456785, 2.0**26 - 1e-8, 2.0**26, np.inf, np.nan, 1e-320],
    ])
    expected = np.array([float(num(float(v))) for v in values])
    assert num_parsed(values).view(np.int64).tolist() == expected.view(np.int64).tolist()


# ---------------------------------------------------------------- the contract


def test_the_backtests_feed_ticker_arrays_into_batches_with_paged_backfill() -> None:
    calls = assert_same_both_ways(generated(), backfill=1100, minutes=20, all_tickers=True,
                                  forming_klines=False)
    kinds = {kind for kind, _ in calls}
    assert kinds == {"BarHistory", "TickBatch", "Bar"}


def test_per_symbol_tickers_on_recorded_data() -> None:
    calls = assert_same_both_ways(lambda: ReplaySource.from_dir(FIXTURE, seed=9), backfill=10,
                                  minutes=50, all_tickers=False, batch=False)
    assert {kind for kind, _ in calls} == {"BarHistory", "Tick", "Bar"}


def test_ticker_arrays_as_ticks_with_gaps_in_the_played_minutes(tmp_path: Path) -> None:
    write_gappy_replay(tmp_path)
    calls = assert_same_both_ways(lambda: ReplaySource.from_dir(tmp_path, seed=5,
                                                                ticks_per_bar=3),
                                  backfill=30, minutes=50, all_tickers=True, batch=False)
    assert {kind for kind, _ in calls} == {"BarHistory", "Tick", "Bar"}


def test_a_followed_subset_gets_only_its_rows() -> None:
    make = generated(coins=5, seed=2)
    symbols = [i.symbol for i in make().instruments][1:3]
    calls = assert_same_both_ways(make, backfill=30, minutes=10, all_tickers=True,
                                  symbols=symbols)
    batches = [dict(fields) for kind, fields in calls if kind == "TickBatch"]
    assert batches and all(b["symbols"] == tuple(("str", s) for s in symbols) for b in batches)


@pytest.mark.parametrize("all_tickers, batch", [(True, True), (True, False), (False, False)])
def test_refused_frames_are_dropped_and_counted_the_same(all_tickers: bool, batch: bool) -> None:
    make = generated(coins=3, seed=6)
    wire, counts = play(Corrupted(make()), direct=False, backfill=10, minutes=9,
                        all_tickers=all_tickers, batch=batch)
    direct, direct_counts = play(Corrupted(make()), direct=True, backfill=10, minutes=9,
                                 all_tickers=all_tickers, batch=batch)
    assert direct == wire and direct_counts == counts
    assert counts["malformed"] + counts["dropped_rows"] > 0  # the corruption was seen


@pytest.mark.shared_data
@pytest.mark.slow
def test_a_day_of_real_1m_data_the_backtests_way(shared_data: Path) -> None:
    folder = shared_data / SHARED_1M
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    assert_same_both_ways(lambda: ReplaySource.from_dir(folder), backfill=1440, minutes=1440,
                          all_tickers=True, forming_klines=False)


# ---------------------------------------------------------------- the usual minute


class OddMinutes(AlteredSource):
    """A generated market with, minute after minute, what the usual minute's two calls
    leave to the direct path: a ticker size on a rounding half (formatted and parsed for
    real), a kline quote volume on one, a kline whose high is below its close (the parser
    refuses it), a size no market has (the edge drops it), and a clean minute."""

    def alter(self, data: MinuteData) -> MinuteData:
        ticks, bars = data.ticks, data.bars
        odd = self.minutes % 5
        if odd == 1:
            ticks.bid_qty[1, 0] = 1.000000005
        elif odd == 2:
            quote = bars.quote_volume.copy()
            quote[0] = 12.123456785
            bars = replace(bars, quote_volume=quote)
        elif odd == 3:
            high = bars.high.copy()
            high[-1] = bars.close[-1] / 2.0
            bars = replace(bars, high=high)
        elif odd == 4:
            ticks.ask_qty[2, 0] = 3e18
        return MinuteData(bars=bars, ticks=ticks)


def play_columns(source: MarketSource, *, usual: bool, minutes: int,
                 **options: Any) -> tuple[list[Any], dict[str, int]]:
    """`play` with ticker arrays and bar batches taken whole (the backtest's feed)."""
    calls: list[Any] = []
    counters: dict[str, int] = {}
    feed = ReplayFeed(
        source, direct=True, usual=usual, all_tickers=True, forming_klines=False,
        on_tick=lambda tick: calls.append(_fields(tick)),
        on_bar=lambda bar: calls.append(_fields(bar)),
        on_history=lambda history: calls.append(_fields(history)),
        on_tick_batch=lambda rows: calls.append(_fields(rows)),
        on_bar_batch=lambda bars: calls.append(_fields(bars)),
        on_tick_arrays=lambda arrays: calls.append(_fields(arrays)),
        **options,
    )
    feed.backfill(30)
    counters["minutes"] = feed.run(max_minutes=minutes)
    counters.update(bars=feed.bars, gaps_filled=feed.gaps_filled, messages=feed.messages,
                    dropped_rows=feed.dropped_rows, malformed=feed.malformed,
                    invalid=feed.invalid, newest_ms=feed._validator.newest_ms,
                    now_ms=feed.now_ms, usual=feed.usual_minutes)
    return calls, counters


def assert_usual_as_direct(make_source: Any, minutes: int, **options: Any) -> dict[str, int]:
    """The usual minute's calls and the direct path's frames deliver the same callbacks,
    bit for bit, with the same counters; returns the usual way's counters."""
    direct, direct_counts = play_columns(make_source(), usual=False, minutes=minutes,
                                         **options)
    usual, usual_counts = play_columns(make_source(), usual=True, minutes=minutes, **options)
    assert len(usual) == len(direct) > 0
    for number, (got, want) in enumerate(zip(usual, direct)):
        assert got == want, f"callback {number} differs"
    assert direct_counts.pop("usual") == 0
    played = usual_counts.pop("usual")
    assert usual_counts == direct_counts
    return {"usual": played, **usual_counts}


def test_the_usual_minute_is_the_direct_paths_minute_on_a_clean_market() -> None:
    counts = assert_usual_as_direct(generated(coins=5, seed=3), minutes=40)
    # All but the two whose bars follow a coin's minute without a trade (a gap the
    # sequencer fills bar by bar).
    assert counts["usual"] == 38


def test_odd_minutes_go_the_direct_way_from_where_they_differ() -> None:
    counts = assert_usual_as_direct(lambda: OddMinutes(generated(coins=4, seed=7)()),
                                    minutes=40)
    assert 0 < counts["usual"] <= 8  # the clean minutes only
    assert counts["invalid"] > 0 and counts["dropped_rows"] + counts["malformed"] > 0


def test_corrupted_and_gappy_markets_give_the_direct_paths_callbacks(tmp_path: Path) -> None:
    assert_usual_as_direct(lambda: Corrupted(generated(coins=3, seed=6)()), minutes=12)
    write_gappy_replay(tmp_path)
    assert_usual_as_direct(lambda: ReplaySource.from_dir(tmp_path, seed=5, ticks_per_bar=3),
                           minutes=50)


def test_a_followed_subset_is_never_played_the_usual_way() -> None:
    make = generated(coins=5, seed=2)
    symbols = [i.symbol for i in make().instruments][1:3]
    counts = assert_usual_as_direct(make, minutes=10, symbols=symbols)
    assert counts["usual"] == 0


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_backfill_over_a_non_finite_kline_is_refused_alike_both_ways(bad: float) -> None:
    # The REST parser refuses such a body; the direct path must refuse it with the same words
    # (the source's own trade counts warn about the NaN: that is the data, not the feed).
    def source() -> ReplaySource:
        frame = pd.DataFrame({"timestamp_ms": np.arange(40) * 60_000, "open": 1.0,
                              "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0})
        frame.loc[5, "volume"] = bad
        return ReplaySource({("A", "USDT"): frame, ("B", "USDT"): frame}, warmup_minutes=20)

    messages = []
    for direct in (False, True):
        with pytest.raises(MalformedFrame) as refused:
            play(source(), direct=direct, backfill=15, minutes=1)
        messages.append(str(refused.value))
    assert messages[0] == messages[1] == "klines with negative or non-finite values"
