"""Binance REST parsing: exchangeInfo filters -> Instruments, klines -> closed-bar histories."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from exchange.feeds.binance_rest import parse_exchange_info, parse_klines
from exchange.feeds.errors import (
    ExchangeBusy,
    ExchangeRefused,
    MalformedFrame,
    exchange_error,
)
from model.errors import TemporaryError
from model.market import Bar, bars_of, history_after

RECORDED = Path("protocol/binance/recorded_cryptofeed_2021-10-11")
RECORDED_INFO = RECORDED / "rest_api_v3_exchangeInfo.json"
NAUTILUS_HTTP = Path("protocol/binance/nautilus_fixtures/spot_http")
T0 = 1_700_000_040_000


def kline_row(
    open_ms: int, o: str = "1.0", h: str = "2.0", low: str = "0.5", c: str = "1.5"
) -> list[Any]:
    return [open_ms, o, h, low, c, "10.0", open_ms + 59_999, "15.0", 7, "5.0", "7.5", "0"]


@pytest.mark.shared_data
def test_recorded_exchange_info_gives_all_1695_instruments_with_their_filters(
    shared_data: Path,
) -> None:
    payload = orjson.loads((shared_data / RECORDED_INFO).read_bytes())
    instruments = parse_exchange_info(payload)
    assert len(instruments) == 1695
    eth_btc = instruments[0]
    assert (eth_btc.symbol, eth_btc.base, eth_btc.quote) == ("ETHBTC", "ETH", "BTC")
    assert eth_btc.tick == Decimal("0.000001") and eth_btc.lot == Decimal("0.0001")
    assert eth_btc.min_notional == Decimal("0.0001") and eth_btc.max_price == Decimal("922327")
    assert len(parse_exchange_info(payload, trading_only=True)) == 1262  # 433 on BREAK


@pytest.mark.shared_data
def test_symbol_without_price_and_lot_filters_is_skipped(shared_data: Path) -> None:
    path = shared_data / NAUTILUS_HTTP / "exchange_info_response.json"
    payload = orjson.loads(path.read_bytes())
    assert payload["symbols"][0]["filters"] == []
    assert parse_exchange_info(payload) == []


def test_notional_filter_is_used_when_min_notional_is_absent() -> None:
    payload = {"symbols": [{
        "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000",
             "tickSize": "0.01"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000",
             "stepSize": "0.00001"},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True},
        ],
    }]}
    (instrument,) = parse_exchange_info(payload)
    assert instrument.min_notional == Decimal("5")


@pytest.mark.parametrize("payload", [[], {"symbols": 3}, {"symbols": [{"filters": [{"x": 1}]}]}])
def test_malformed_exchange_info_raises(payload: Any) -> None:
    with pytest.raises(MalformedFrame):
        parse_exchange_info(payload)


@pytest.mark.shared_data
def test_documented_klines_response_parses(shared_data: Path) -> None:
    rows = orjson.loads((shared_data / NAUTILUS_HTTP / "klines_response.json").read_bytes())
    history = parse_klines(rows, "ETHBTC", end_ms=2**62)
    assert history.open_ms.tolist() == [1499040000000]
    first = (history.open[0], history.high[0], history.quote_volume[0])
    assert first == (0.0163479, 0.8, 2434.19055334)


def test_klines_keep_only_bars_closed_before_the_end() -> None:
    rows = [kline_row(T0), kline_row(T0 + 60_000)]
    assert parse_klines(rows, "X", end_ms=T0 + 120_000).open_ms.tolist() == [T0, T0 + 60_000]
    assert parse_klines(rows, "X", end_ms=T0 + 119_999).open_ms.tolist() == [T0]


@pytest.mark.parametrize(
    "rows",
    [
        {"code": -1121},
        [[T0, "1"]],
        [kline_row(T0), kline_row(T0)],  # not strictly increasing
        [kline_row(T0 + 1)],  # not on the minute
        [kline_row(T0, h="0.9")],  # high below open/close
        [kline_row(T0, c="nan")],
        [kline_row(T0, o="-1")],
        [[str(T0)] + kline_row(T0)[1:]],
        [[T0, True, "2", "0.5", "1.5", "1", T0, "1", 1]],
    ],
)
def test_malformed_klines_raise(rows: Any) -> None:
    with pytest.raises(MalformedFrame):
        parse_klines(rows, "X", end_ms=2**62)


def test_history_after_and_bars_of_give_the_newer_bars_in_order() -> None:
    history = parse_klines([kline_row(T0 + i * 60_000) for i in range(3)], "X", end_ms=2**62)
    newer = history_after(history, T0)
    assert newer.open_ms.tolist() == [T0 + 60_000, T0 + 120_000]
    assert bars_of(newer)[0] == Bar("X", T0 + 60_000, 1.0, 2.0, 0.5, 1.5, 10.0, 15.0)
    assert history_after(history, None) is history
    assert isinstance(newer.open_ms, np.ndarray)


def test_exchange_error_class_says_whether_a_retry_can_help() -> None:
    assert isinstance(exchange_error(429, -1003, "Too many requests"), ExchangeBusy)
    assert isinstance(exchange_error(418, 0, "IP banned"), ExchangeBusy)
    assert isinstance(exchange_error(503, 0, "Service Unavailable"), TemporaryError)
    refused = exchange_error(400, -1121, "Invalid symbol.", "http://x/api/v3/klines")
    assert isinstance(refused, ExchangeRefused) and not isinstance(refused, TemporaryError)
    assert "-1121" in str(refused)
