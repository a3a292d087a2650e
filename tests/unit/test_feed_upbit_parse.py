"""Upbit websocket parsing, trade-built bars, KRW tick rules and candles: on hand-made
messages and on the real recorded frames in ../shared/data/protocol/upbit."""

from __future__ import annotations

import ast
import gzip
import json
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from exchange.feeds.errors import MalformedFrame
from exchange.feeds.upbit_parse import (
    TickAssembler,
    TradeBarBuilder,
    UpbitBook,
    UpbitRefused,
    UpbitStatus,
    UpbitTicker,
    UpbitTrade,
    parse_message,
    subscription_request,
    to_default,
)
from exchange.feeds.upbit_rest import parse_candles, upbit_instrument
from model.instruments import Side, upbit_krw_tick

RECORDED = "protocol/upbit/recorded_cryptofeed_2021-04-17"
TRADE = {"ty": "trade", "cd": "KRW-LAMB", "tms": 1618678262712, "td": "2021-04-17",
         "ttm": "16:51:02", "ttms": 1618678262000, "tp": 127.0, "tv": 46.48838371, "ab": "BID",
         "pcp": 123.0, "c": "RISE", "cp": 4.0, "sid": 1618678262000003, "st": "REALTIME"}
BOOK = {"ty": "orderbook", "cd": "KRW-LAMB", "tms": 1618678262640, "tas": 1.0, "tbs": 2.0,
        "obu": [{"ap": 127.0, "bp": 126.0, "as": 280460.3, "bs": 688682.4}], "st": "REALTIME"}
TICKER = {"ty": "ticker", "cd": "KRW-LAMB", "tms": 1618678262800, "tp": 127.0,
          "atv24h": 1000.5, "atp24h": 127000.0, "st": "REALTIME"}


def recorded_frames(shared_data: Path) -> list[bytes]:
    """The binary frames exactly as received (`b'...'` lines of the raw capture)."""
    frames = []
    for line in (shared_data / RECORDED / "raw_UPBIT.ws.62.0.txt").read_text().splitlines():
        _, _, payload = line.partition(": ")
        if payload.startswith("b'"):
            frames.append(ast.literal_eval(payload))
    return frames


def test_every_recorded_binary_frame_parses_to_a_trade_or_a_book(shared_data: Path) -> None:
    frames = recorded_frames(shared_data)
    events = [parse_message(frame) for frame in frames]
    trades = [e for e in events if isinstance(e, UpbitTrade)]
    books = [e for e in events if isinstance(e, UpbitBook)]
    assert (len(trades), len(books)) == (304, 145)
    request = json.loads((shared_data / RECORDED / "ws_subscribe_request.json").read_text())
    subscribed = set(request[2]["codes"])
    assert {e.code for e in trades + books} <= subscribed
    assert all(b.bid < b.ask and b.bid_qty > 0 and b.ask_qty > 0 for b in books)
    assert all(1618678261000 < e.ts_event < 1618678300000 for e in trades + books)


def test_default_format_parses_to_the_same_events_as_simple(shared_data: Path) -> None:
    for frame in recorded_frames(shared_data)[:120]:
        simple = orjson.loads(frame)
        assert parse_message(orjson.dumps(to_default(simple))) == parse_message(frame)
        assert parse_message(frame.decode()) == parse_message(frame)  # text frames too


def test_recorded_krw_prices_lie_on_the_tick_grid_of_their_era(shared_data: Path) -> None:
    checked = 0
    for event in map(parse_message, recorded_frames(shared_data)):
        if not event.code.startswith("KRW-"):
            continue
        prices = [event.price] if isinstance(event, UpbitTrade) else [event.bid, event.ask]
        for price in prices:
            tick = upbit_krw_tick(price, event.ts_event)
            assert Decimal(str(price)) % tick == 0, (event.code, price, tick)
            checked += 1
    assert checked > 300


def test_subscription_request_has_the_recorded_shape(shared_data: Path) -> None:
    recorded = json.loads((shared_data / RECORDED / "ws_subscribe_request.json").read_text())
    ours = subscription_request("t", recorded[2]["codes"], types=("trade", "orderbook"))
    assert sorted(map(sorted, ours)) == sorted(map(sorted, recorded))
    with pytest.raises(ValueError, match="SIMPLE or DEFAULT"):
        subscription_request("t", ["KRW-BTC"], fmt="JSON_LIST")


def test_recorded_candles_match_the_recorded_ohlcv_file(shared_data: Path) -> None:
    folder = shared_data / "protocol/upbit/smtm_rest_candles_2020-02-20"
    rows = json.loads((folder / "upbit_1m_20200220_202000-20200220_210000.json").read_text())
    history = parse_candles(rows, "KRW-BTC", end_ms=2**62)
    assert len(history) == len(rows) and list(history.open_ms) == sorted(history.open_ms)
    csv_path = shared_data / "ohlcv/smtm_upbit/KRW-BTC-1m.csv.gz"
    with gzip.open(csv_path, "rt") as handle:
        csv_rows = handle.read().splitlines()[1:]
    table = {int(r.split(",")[0]): [float(v) for v in r.split(",")[1:]] for r in csv_rows}
    matched = 0
    for i, open_ms in enumerate(history.open_ms.tolist()):
        if open_ms in table:
            o, h, low, c, v = table[open_ms]
            assert (history.open[i], history.high[i], history.low[i], history.close[i]) == (o, h, low, c)
            assert history.volume[i] == pytest.approx(v, rel=1e-9)
            matched += 1
    assert matched >= 10


def test_a_tick_needs_both_a_last_price_and_a_book() -> None:
    assembler = TickAssembler()
    assert assembler.apply(parse_message(orjson.dumps(BOOK)), 5) is None
    tick = assembler.apply(parse_message(orjson.dumps(TRADE)), 6)
    assert tick is not None and (tick.last, tick.bid, tick.ask) == (127.0, 126.0, 127.0)
    assert tick.ts_event == TRADE["tms"] and tick.ts_recv == 6
    assert tick.base_volume != tick.base_volume  # NaN until a ticker says
    tick = assembler.apply(parse_message(orjson.dumps(TICKER)), 7)
    assert tick is not None and (tick.base_volume, tick.quote_volume) == (1000.5, 127000.0)


def _trade(ts: int, price: float, volume: float, sid: int) -> UpbitTrade:
    return UpbitTrade("KRW-BTC", ts, price, volume, "BID", sid)


def test_trades_make_one_bar_per_minute_closed_by_the_next_minute() -> None:
    builder = TradeBarBuilder()
    minute = 1_700_000_040_000
    assert builder.add(_trade(minute + 1_000, 100.0, 1.0, 1)) == []
    assert builder.add(_trade(minute + 20_000, 103.0, 2.0, 2)) == []
    assert builder.add(_trade(minute + 50_000, 99.0, 1.5, 3)) == []
    (bar,) = builder.add(_trade(minute + 61_000, 101.0, 1.0, 4))
    assert (bar.open_ms, bar.open, bar.high, bar.low, bar.close) == (minute, 100.0, 103.0, 99.0, 99.0)
    assert (bar.volume, bar.quote_volume, bar.trades) == (4.5, 100.0 + 206.0 + 148.5, 3)
    assert builder.add(_trade(minute + 59_000, 98.0, 1.0, 5)) == []  # late: never reopens
    assert builder.late_trades == 1
    (last,) = builder.close_before(minute + 125_000)
    assert (last.open_ms, last.open, last.volume) == (minute + 60_000, 101.0, 1.0)


def test_control_answers_are_events_not_errors() -> None:
    assert parse_message(b'{"status":"UP"}') == UpbitStatus("UP")
    refused = parse_message(b'{"error":{"name":"NO_TICKET","message":"no ticket"}}')
    assert refused == UpbitRefused("NO_TICKET", "no ticket")
    assert isinstance(parse_message(orjson.dumps(TICKER)), UpbitTicker)


MALFORMED = [
    (b"not json", "not JSON"),
    (b"[1, 2]", "not an object"),
    (orjson.dumps({**TRADE, "ty": "candle.1m"}), "unknown message type"),
    (orjson.dumps({**TRADE, "cd": 5}), "market code"),
    (orjson.dumps({**TRADE, "tms": 1618678262712000}), "epoch milliseconds"),
    (orjson.dumps({**TRADE, "tms": True}), "epoch milliseconds"),
    (orjson.dumps({**TRADE, "tp": -1.0}), "out of range"),
    (orjson.dumps({**TRADE, "tp": True}), "not a number"),
    (orjson.dumps({**TRADE, "tp": "abc"}), "not a number"),
    (orjson.dumps({**TRADE, "ab": "SELL"}), "ask_bid"),
    (orjson.dumps({k: v for k, v in TRADE.items() if k != "sid"}), "sequential_id"),
    (orjson.dumps({**BOOK, "obu": []}), "orderbook_units"),
    (orjson.dumps({**BOOK, "obu": [{"ap": 126.0, "bp": 126.0, "as": 1.0, "bs": 1.0}]}), "crossed"),
    (orjson.dumps({**BOOK, "obu": [{"ap": 127.0, "bp": 126.0, "as": -1.0, "bs": 1.0}]}), "out of range"),
    (b'{"ty":"ticker","cd":"KRW-BTC","tms":1,"tp":NaN}', "not JSON"),
    (orjson.dumps({**TICKER, "tp": 0}), "out of range"),
]


@pytest.mark.parametrize(("raw", "reason"), MALFORMED)
def test_malformed_messages_raise_malformed_frame_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedFrame, match=reason):
        parse_message(raw)


@pytest.mark.parametrize(
    ("code", "price", "at_ms", "buy", "sell"),
    [
        ("KRW-BTC", 50_123_456.0, 1_700_000_000_000, "50123000", "50124000"),  # 1000 band
        ("KRW-XRP", 612.4, 1_700_000_000_000, "612", "613"),  # era A: 100..1000 tick 1
        ("KRW-XRP", 612.45, 1_720_000_000_000, "612.4", "612.5"),  # era B: tick 0.1
        ("KRW-AUR", 300_070.0, 1_760_000_000_000, "300000", "300100"),  # era C: tick 100
        ("KRW-NOVA", 4_003.7, 1_760_000_000_000, "4003", "4004"),  # era C: 1000..5000 tick 1
        ("USDT-BTC", 73_249.665, 1_730_000_000_000, "73249.66", "73249.67"),
        ("BTC-ETH", 0.0629431234, 1_730_000_000_000, "0.06294312", "0.06294313"),
    ],
)
def test_upbit_instruments_round_prices_to_the_band_tick_safely(
    code: str, price: float, at_ms: int, buy: str, sell: str
) -> None:
    instrument = upbit_instrument(code, price, at_ms)
    assert instrument.price(price, Side.BUY) == Decimal(buy)
    assert instrument.price(price, Side.SELL) == Decimal(sell)
    assert instrument.check(Decimal(buy), Decimal(1000)) is None  # on the grid: accepted
    off_grid = Decimal(buy) + instrument.tick_at(Decimal(buy)) / 2
    assert instrument.check(off_grid, Decimal(1000)).filter == "PRICE_FILTER"  # type: ignore[union-attr]
