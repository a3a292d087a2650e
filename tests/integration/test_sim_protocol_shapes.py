"""Every payload the simulator emits has the key set and value types of the recorded real
frames and the documentation examples in ../shared/data/protocol/binance."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import SimConfig
from exchange.sim import SimExchange

pytestmark = pytest.mark.shared_data

START_MS = 1_700_000_040_000


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively (lists by their first element)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    return type(value).__name__


@pytest.fixture(scope="module")
def samples(shared_data: Path) -> dict[str, Any]:
    binance = shared_data / "protocol" / "binance"
    recorded = binance / "recorded_cryptofeed_2021-10-11"
    nautilus = binance / "nautilus_fixtures"

    def load(path: Path) -> Any:
        return json.loads(path.read_text())

    info = load(recorded / "rest_api_v3_exchangeInfo.json")
    return {
        "ticker": load(nautilus / "integration_ws_messages" / "ws_spot_ticker_24hr.json"),
        "book": load(recorded / "ws_sample_bookTicker.json")[0],
        "kline": load(recorded / "ws_sample_kline.json")[0],
        "rest_ticker": load(nautilus / "spot_http" / "ticker_24hr_response.json"),
        "rest_book": load(nautilus / "spot_http" / "book_ticker_response.json"),
        "rest_klines": load(
            nautilus / "integration_http_responses" / "http_spot_market_klines.json"
        ),
        "time": load(nautilus / "spot_http" / "server_time_response.json"),
        "ping": load(nautilus / "spot_http" / "ping_response.json"),
        "info": info,
        "info_symbol": next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT"),
    }


@pytest.fixture(scope="module")
def emitted() -> dict[str, Any]:
    """One of every payload, captured from a running simulator."""

    async def capture() -> dict[str, Any]:
        config = SimConfig(coins=4, history_days=1, seed=21)
        async with SimExchange(config, start_ms=START_MS, autorun=False) as sim:
            name = sim.symbols[0].lower()
            async with aiohttp.ClientSession() as session:
                streams = f"{name}@ticker/{name}@bookTicker/{name}@kline_1m/!ticker@arr"
                ws = await session.ws_connect(f"{sim.ws_url}/stream?streams={streams}")
                await sim.step(1)
                frames: dict[str, Any] = {}
                while "kline_closed" not in frames:
                    frame = await ws.receive_json(timeout=5)
                    kind = frame["stream"].split("@", 1)[1]
                    if kind == "kline_1m" and frame["data"]["k"]["x"]:
                        kind = "kline_closed"
                    frames.setdefault(kind, frame)

                async def rest(path: str, **params: Any) -> Any:
                    async with session.get(sim.rest_url + path, params=params) as response:
                        return await response.json()

                symbol = sim.symbols[0]
                frames["rest_ticker"] = await rest("/api/v3/ticker/24hr", symbol=symbol)
                frames["rest_book"] = await rest("/api/v3/ticker/bookTicker", symbol=symbol)
                frames["rest_klines"] = await rest("/api/v3/klines", symbol=symbol, interval="1m")
                frames["time"] = await rest("/api/v3/time")
                frames["ping"] = await rest("/api/v3/ping")
                frames["info"] = await rest("/api/v3/exchangeInfo")
                return frames

    return asyncio.run(asyncio.wait_for(capture(), 30))


def test_combined_frames_wrap_stream_and_data_like_the_recording(emitted, samples) -> None:
    assert set(emitted["ticker"]) == set(samples["book"]) == {"stream", "data"}


def test_ticker_matches_the_documented_24hr_ticker(emitted, samples) -> None:
    assert shape(emitted["ticker"]["data"]) == shape(samples["ticker"])
    assert shape(emitted["arr"]["data"]) == [shape(samples["ticker"])]


def test_book_ticker_matches_the_recorded_frame(emitted, samples) -> None:
    assert shape(emitted["bookTicker"]["data"]) == shape(samples["book"]["data"])


def test_klines_in_progress_and_closed_match_the_recorded_frame(emitted, samples) -> None:
    assert shape(emitted["kline_1m"]["data"]) == shape(samples["kline"]["data"])
    assert shape(emitted["kline_closed"]["data"]) == shape(samples["kline"]["data"])


def test_rest_payloads_match_the_documented_responses(emitted, samples) -> None:
    for kind in ("rest_ticker", "rest_book", "rest_klines", "time", "ping"):
        assert shape(emitted[kind]) == shape(samples[kind]), kind


def test_exchange_info_matches_the_recorded_symbol_and_filters(emitted, samples) -> None:
    info = emitted["info"]
    assert set(info) == set(samples["info"])
    symbol, recorded = info["symbols"][0], samples["info_symbol"]
    assert shape({k: v for k, v in symbol.items() if k != "filters"}) == shape(
        {k: v for k, v in recorded.items() if k != "filters"}
    )
    recorded_filters = {f["filterType"]: shape(f) for f in recorded["filters"]}
    for rule in symbol["filters"]:
        assert shape(rule) == recorded_filters[rule["filterType"]], rule["filterType"]
    assert {f["filterType"] for f in symbol["filters"]} >= {
        "PRICE_FILTER",
        "LOT_SIZE",
        "MIN_NOTIONAL",
    }
