"""ReplayFeed against the real thing: the sim server and BinanceFeed over sockets on 127.0.0.1.

The backtest's parity with the daemon rests on these: the server publishes exactly the frames
`MinutePlayer` yields, and a `ReplayFeed` on an identical source delivers exactly the callbacks
(same floats, same order) that a `BinanceFeed` connected to the server delivers.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson
import pytest

import exchange.sim.protocol as protocol
from bot.config import FeedConfig, SimConfig
from exchange.feeds.binance import BinanceFeed
from exchange.feeds.replay import ReplayFeed
from exchange.sim.player import MinutePlayer
from exchange.sim.server import SimExchange
from exchange.sim.source import open_source
from model.market import MINUTE_MS, Bar, BarHistory, Tick, TickBatch
from tests.tasks import running
from tests.waiting import async_wait_until

START_MS = 1_700_000_040_000  # on the minute
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sim_replay"


# ---------------------------------------------------------------- recording


def _exact(value: Any) -> Any:
    """A comparable, bit-exact form: floats as hex (NaN-safe), arrays as dtype + bytes."""
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, np.ndarray):
        return (value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, tuple):
        return tuple(_exact(v) for v in value)
    return value


def _fields(event: Any, skip: tuple[str, ...] = ()) -> tuple[Any, ...]:
    return tuple(
        (name, _exact(getattr(event, name))) for name in event.__slots__ if name not in skip
    )


class Recorder:
    """Every callback, in order. `ts_recv` is kept apart: over a socket it is the sim clock
    when the feed *read* the frame (scheduling-dependent); in replay it is the clock when
    the frame was published. Everything the exchange put in the frame is compared exactly."""

    def __init__(self) -> None:
        self.histories: dict[str, tuple[Any, ...]] = {}  # by symbol (REST backfill runs
        # concurrently in BinanceFeed, so the order *across* symbols is not defined)
        self.events: list[tuple[Any, ...]] = []
        self.ts_recv: list[int] = []  # of ticks and batches, in event order
        self.minutes: list[list[tuple[Any, ...]]] = []

    def on_history(self, history: BarHistory) -> None:
        assert history.symbol not in self.histories
        self.histories[history.symbol] = _fields(history)

    def on_tick(self, tick: Tick) -> None:
        self.events.append(("tick", _fields(tick, ("ts_recv",))))
        self.ts_recv.append(tick.ts_recv)

    def on_tick_batch(self, batch: TickBatch) -> None:
        self.events.append(("batch", _fields(batch, ("ts_recv",))))
        self.ts_recv.append(batch.ts_recv)

    def on_bar(self, bar: Bar) -> None:
        self.events.append(("bar", _fields(bar)))

    def end_minute(self) -> None:
        done = sum(len(m) for m in self.minutes)
        self.minutes.append(self.events[done:])

    def callbacks(self, batch: bool) -> dict[str, Callable[[Any], None]]:
        calls: dict[str, Callable[[Any], None]] = {
            "on_tick": self.on_tick, "on_bar": self.on_bar, "on_history": self.on_history
        }
        if batch:
            calls["on_tick_batch"] = self.on_tick_batch
        return calls

    def closed_bars(self) -> set[tuple[str, int]]:
        return {(dict(e[1])["symbol"], dict(e[1])["open_ms"]) for e in self.events if e[0] == "bar"}


async def until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    await async_wait_until(predicate, timeout_s, interval_s=0.005)


def arrived(
    recorder: Recorder, bars: set[tuple[str, int]], task: asyncio.Task[None]
) -> Callable[[], bool]:
    """True once every bar in `bars` was delivered (or the feed died)."""
    return lambda: bars <= recorder.closed_bars() or task.done()


# ---------------------------------------------------------------- the two runs


async def over_socket(
    config: SimConfig, backfill: int, all_tickers: bool, batch: bool, max_minutes: int
) -> Recorder:
    """The daemon's path: SimExchange + BinanceFeed (clock = sim clock, as in sim mode),
    stepping one minute at a time and waiting for that minute's closed klines."""
    recorder = Recorder()
    sim = SimExchange(config, start_ms=START_MS, autorun=False)
    async with sim:
        feed = BinanceFeed(
            sim.rest_url, sim.ws_url, sim.symbols, FeedConfig(backfill_minutes=backfill),
            clock_ms=lambda: sim.now_ms, all_tickers=all_tickers,
            **recorder.callbacks(batch),  # type: ignore[arg-type]
        )
        streams = set(feed._streams(0, sim.symbols))
        async with running(feed) as task:
            await until(lambda: feed.health().connected and sim.hub.wanted == streams)
            for _ in range(max_minutes):
                if await sim.step(1) == 0:
                    break
                open_ms = sim.now_ms - MINUTE_MS
                # The closed klines are the minute's last frames, and one connection keeps
                # order: once they are in, the whole minute is.
                traded = {
                    (s, open_ms)
                    for i, s in enumerate(sim.symbols)
                    if sim.kline_rows(i, open_ms, open_ms, 1)
                }
                await until(arrived(recorder, traded, task))
                assert not task.done(), task.exception()
                recorder.end_minute()
            assert feed.health().malformed == 0
    return recorder


def in_replay(
    config: SimConfig, backfill: int, all_tickers: bool, batch: bool, max_minutes: int
) -> Recorder:
    """The backtest's path: ReplayFeed on an identical source, no socket, no waiting."""
    recorder = Recorder()
    feed = ReplayFeed(
        open_source(config, START_MS), all_tickers=all_tickers,
        **recorder.callbacks(batch),  # type: ignore[arg-type]
    )
    feed.backfill(backfill)
    for _ in range(max_minutes):
        if feed.play_minute() is None:
            break
        recorder.end_minute()
    assert feed.malformed == 0
    return recorder


def write_gappy_replay(directory: Path) -> None:
    """Two series with minutes missing during the replayed part (20 warm-up minutes), one
    minute missing from both (no frame at all that minute)."""
    first = 1_600_000_020_000
    missing = {"AAA_BTC": {25, 26, 30, 35}, "CCC_USDT": {33, 35, 36}}
    for name, base in (("AAA_BTC", 0.0404), ("CCC_USDT", 101.0)):
        rng = np.random.default_rng(len(name) + int(base))
        price = base
        lines = ["timestamp_ms,open,high,low,close,volume"]
        for minute in range(40):
            close = round(price * (1 + rng.normal(0, 0.002)), 6)
            high = round(max(price, close) * 1.001, 6)
            low = round(min(price, close) * 0.999, 6)
            if minute not in missing[name]:
                volume = round(float(rng.uniform(0.5, 40.0)), 4)
                lines.append(f"{first + minute * MINUTE_MS},{price},{high},{low},{close},{volume}")
            price = close
        with gzip.open(directory / f"{name}-1m.csv.gz", "wt") as out:
            out.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------- tests


CASES: dict[str, tuple[dict[str, Any], int, bool, bool, int]] = {
    # the daemon's sim mode: !ticker@arr into on_tick_batch; backfill pages (> 1000 bars)
    "generator-batch": ({"coins": 4, "seed": 11, "history_days": 1.0}, 1100, True, True, 15),
    # per-symbol @ticker streams into on_tick
    "fixture-per-symbol": ({"replay_dir": str(FIXTURE), "seed": 9}, 10, False, False, 50),
    # ticker arrays through the strict per-tick path; gaps in the played minutes
    "gappy-arrays-to-ticks": ({"seed": 5, "ticks_per_bar": 3}, 30, True, False, 50),
}


@pytest.mark.parametrize("case", list(CASES))
def test_replay_feed_delivers_what_binance_feed_gets_from_the_sim_server(
    case: str, tmp_path: Path
) -> None:
    fields, backfill, all_tickers, batch, minutes = CASES[case]
    if case.startswith("gappy"):
        write_gappy_replay(tmp_path)
        fields = {**fields, "replay_dir": str(tmp_path)}
    config = SimConfig(**fields)  # type: ignore[arg-type]

    live = asyncio.run(over_socket(config, backfill, all_tickers, batch, minutes))
    replay = in_replay(config, backfill, all_tickers, batch, minutes)

    assert live.histories and replay.histories == live.histories
    assert len(replay.minutes) == len(live.minutes) > 0
    for number, (got, want) in enumerate(zip(replay.minutes, live.minutes)):
        assert got == want, f"minute {number} differs"
    assert replay.events == live.events
    # ts_recv: replay stamps the publication instant, the socket feed a later-or-equal one.
    assert len(replay.ts_recv) == len(live.ts_recv)
    assert all(r <= s for r, s in zip(replay.ts_recv, live.ts_recv))
    if case.startswith("gappy"):
        kinds = {kind for minute in replay.minutes for kind, _ in minute}
        assert kinds == {"tick", "bar"} and [] in replay.minutes  # minute 35: nothing at all


def test_server_publishes_exactly_the_frames_the_player_yields() -> None:
    """Every stream kind, every symbol, combined framing: the bytes on the wire are
    `protocol.combined(stream, orjson.dumps(payload))` of the player's frames, in order."""
    config = SimConfig(coins=3, seed=4, history_days=0.1)
    minutes = 6

    player_source = open_source(config, START_MS)
    player = MinutePlayer(player_source)
    names = [s.lower() for s in player.symbols]
    streams = ["!ticker@arr"] + [
        f"{n}@{kind}" for n in names for kind in ("bookTicker", "ticker", "kline_1m")
    ]
    wanted = set(streams).__contains__
    expected: list[bytes] = []
    for _ in range(minutes):
        data = player_source.advance()
        assert data is not None
        expected += [
            protocol.combined(stream, orjson.dumps(payload))
            for _, stream, payload in player.play(data, wanted)
        ]

    async def scenario() -> list[bytes]:
        sim = SimExchange(config, start_ms=START_MS, autorun=False)
        received: list[bytes] = []
        async with (
            sim,
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{sim.ws_url}/stream") as ws,
        ):
            request = {"method": "SUBSCRIBE", "params": streams, "id": 1}
            await ws.send_str(orjson.dumps(request).decode())
            while (await ws.receive_json()).get("id") != 1:
                pass
            assert await sim.step(minutes) == minutes
            async with asyncio.timeout(10):
                while len(received) < len(expected):
                    received.append((await ws.receive()).data.encode())
        return received

    received = asyncio.run(scenario())
    assert len(expected) > minutes * 4 * len(streams)
    assert received == expected
