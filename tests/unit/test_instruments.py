"""Instruments: Binance filters, Upbit KRW tick bands, safe-direction rounding, and checks
that name the filter an order breaks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from exchange.sim.catalog import UPBIT_KRW_BANDS
from model.instruments import (
    UPBIT_KRW_ERA_A,
    UPBIT_KRW_ERA_B,
    UPBIT_KRW_ERA_C,
    FilterViolation,
    Instrument,
    Side,
    instrument_from_binance,
    upbit_krw_instrument,
    upbit_krw_tick,
)

EXCHANGE_INFO = "protocol/binance/recorded_cryptofeed_2021-10-11/rest_api_v3_exchangeInfo.json"
UPBIT_TABLE = "protocol/upbit/krw_tick_size_table.json"


def utc_ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


BTCUSDT = Instrument(
    "BTCUSDT", "BTC", "USDT", tick=D("0.01"), lot=D("0.00001"), min_notional=D(10),
    min_qty=D("0.00001"), max_qty=D(9000), min_price=D("0.01"), max_price=D(1000000),
)  # fmt: skip

NOTIONAL_SYMBOL: dict[str, Any] = {  # 2023+ shape, filter values from the official docs
    "symbol": "ETHUSDT",
    "baseAsset": "ETH",
    "quoteAsset": "USDT",
    "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000.00",
         "tickSize": "0.01"},
        {"filterType": "LOT_SIZE", "minQty": "0.0001", "maxQty": "9000", "stepSize": "0.0001"},
        {"filterType": "NOTIONAL", "minNotional": "10.00000000", "applyMinToMarket": False,
         "maxNotional": "10000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
    ],
}  # fmt: skip


# ---------------------------------------------------------------- rounding


def test_buy_price_rounds_down_to_tick() -> None:
    assert BTCUSDT.price(D("30000.019"), Side.BUY) == D("30000.01")


def test_sell_limit_rounds_up_to_tick() -> None:
    assert BTCUSDT.price(D("30000.011"), Side.SELL) == D("30000.02")


def test_price_already_on_the_grid_is_unchanged_either_side() -> None:
    assert BTCUSDT.price(0.3, Side.BUY) == BTCUSDT.price(0.3, Side.SELL) == D("0.30")


def test_amount_rounds_down_to_lot() -> None:
    assert BTCUSDT.amount(D("0.123456789")) == D("0.12345")


# ---------------------------------------------------------------- check


@pytest.mark.parametrize(
    ("instrument", "price", "amount", "expected"),
    [
        (BTCUSDT, "30000.01", "0.001", None),
        (BTCUSDT, "0.123", "100", FilterViolation(
            "PRICE_FILTER", "price 0.123 not a multiple of tick 0.01")),
        (BTCUSDT, "0.001", "100000", FilterViolation(
            "PRICE_FILTER", "price 0.001 below minPrice 0.01")),
        (BTCUSDT, "1000000.01", "0.001", FilterViolation(
            "PRICE_FILTER", "price 1000000.01 above maxPrice 1000000")),
        (BTCUSDT, "30000", "0.000001", FilterViolation(
            "LOT_SIZE", "amount 0.000001 below minQty 0.00001")),
        (BTCUSDT, "30000", "0.000015", FilterViolation(
            "LOT_SIZE", "amount 0.000015 not a multiple of step 0.00001")),
        (BTCUSDT, "1", "9001", FilterViolation("LOT_SIZE", "amount 9001 above maxQty 9000")),
        (BTCUSDT, "30000", "0.0003", FilterViolation(
            "MIN_NOTIONAL", "notional 9 below minNotional 10")),
        (instrument_from_binance(NOTIONAL_SYMBOL), "2000", "6", FilterViolation(
            "NOTIONAL", "notional 12000 above maxNotional 10000")),
        (instrument_from_binance(NOTIONAL_SYMBOL), "2000", "0.001", FilterViolation(
            "NOTIONAL", "notional 2 below minNotional 10")),
    ],
)  # fmt: skip
def test_check_names_the_filter_an_order_breaks(
    instrument: Instrument, price: str, amount: str, expected: FilterViolation | None
) -> None:
    assert instrument.check(D(price), D(amount)) == expected


def test_market_order_check_skips_price_filter_and_follows_apply_to_market_flags() -> None:
    notional = instrument_from_binance(NOTIONAL_SYMBOL)
    assert BTCUSDT.check(D("0.123"), D(100), is_market=True) is None
    assert BTCUSDT.check(D(30000), D("0.0003"), is_market=True) is not None  # applyToMarket
    assert notional.check(D(2000), D("0.001"), is_market=True) is None  # applyMinToMarket off
    assert notional.check(D(2000), D(6), is_market=True) is None  # applyMaxToMarket off


# ---------------------------------------------------------------- Binance exchangeInfo


def test_notional_filter_gives_min_and_max_notional() -> None:
    eth = instrument_from_binance(NOTIONAL_SYMBOL)
    assert (eth.min_notional, eth.max_notional, eth.notional_filter) == (
        D(10),
        D(10000),
        "NOTIONAL",
    )


def test_symbol_without_price_filter_is_refused() -> None:
    entry = {**NOTIONAL_SYMBOL, "filters": NOTIONAL_SYMBOL["filters"][1:]}
    with pytest.raises(ValueError, match="PRICE_FILTER"):
        instrument_from_binance(entry)


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("symbol", "tick", "lot", "min_notional", "min_qty", "max_qty", "min_price", "max_price"),
    [
        ("ETHBTC", "0.000001", "0.0001", "0.0001", "0.0001", "100000", "0.000001", "922327"),
        ("BTCUSDT", "0.01", "0.00001", "10", "0.00001", "9000", "0.01", "1000000"),
        ("XRPETH", "0.0000001", "1", "0.005", "1", "90000000", "0.0000001", "1000"),
        ("BNBBUSD", "0.1", "0.001", "10", "0.001", "900000", "0.1", "100000"),
        ("SHIBUSDT", "0.00000001", "1", "10", "1", "46116860414", "0.00000001", "1"),
    ],
)
def test_recorded_exchange_info_filters_become_instrument_rules(
    shared_data: Path, symbol: str, tick: str, lot: str, min_notional: str,
    min_qty: str, max_qty: str, min_price: str, max_price: str,
) -> None:  # fmt: skip
    entries = json.loads((shared_data / EXCHANGE_INFO).read_text())["symbols"]
    inst = instrument_from_binance(next(e for e in entries if e["symbol"] == symbol))
    assert (inst.tick, inst.lot, inst.min_notional) == (D(tick), D(lot), D(min_notional))
    assert (inst.min_qty, inst.max_qty) == (D(min_qty), D(max_qty))
    assert (inst.min_price, inst.max_price) == (D(min_price), D(max_price))
    assert (inst.notional_filter, inst.max_notional) == ("MIN_NOTIONAL", D(0))


@pytest.mark.shared_data
def test_every_recorded_symbol_parses_and_accepts_its_own_minimum_order(shared_data: Path) -> None:
    entries = json.loads((shared_data / EXCHANGE_INFO).read_text())["symbols"]
    instruments = [instrument_from_binance(e) for e in entries]
    assert len(instruments) == 1695
    for inst in instruments:
        # mid-range (geometric) price: some delisted symbols have maxPrice < 1000 ticks
        price = inst.price((max(inst.min_price, inst.tick) * inst.max_price).sqrt(), Side.BUY)
        amount = max(inst.min_qty, inst.lot)
        while price * amount < inst.min_notional:
            amount *= 10
        assert inst.check(price, amount) is None, inst.symbol


# ---------------------------------------------------------------- Upbit KRW


BEFORE_2024 = utc_ms("2023-06-01")
IN_2024 = utc_ms("2024-06-01")
IN_2026 = utc_ms("2026-01-01")


@pytest.mark.parametrize(
    ("price", "at_ms", "tick"),
    [
        ("50000000", BEFORE_2024, "1000"),
        ("1999999", BEFORE_2024, "500"),
        ("2000000", BEFORE_2024, "1000"),
        ("700000", BEFORE_2024, "100"),
        ("33000", BEFORE_2024, "10"),
        ("5000", BEFORE_2024, "5"),
        ("500", BEFORE_2024, "1"),
        ("50", BEFORE_2024, "0.1"),
        ("0.05", BEFORE_2024, "0.0001"),
        ("5000", IN_2024, "1"),
        ("500", IN_2024, "0.1"),
        ("0.005", IN_2024, "0.000001"),
        ("700000", IN_2026, "500"),
        ("70000", IN_2026, "50"),
        ("30000", IN_2026, "10"),
        ("3000", IN_2026, "1"),
        ("0.00005", IN_2026, "0.0000001"),
    ],
)
def test_upbit_krw_tick_follows_the_price_band_of_its_period(
    price: str, at_ms: int, tick: str
) -> None:
    assert upbit_krw_tick(D(price), at_ms) == D(tick)


def test_upbit_table_changes_at_korean_midnight() -> None:
    midnight_kst = utc_ms("2024-01-28T15:00:00")
    assert upbit_krw_tick(5000, midnight_kst - 1) == D(5)
    assert upbit_krw_tick(5000, midnight_kst) == D(1)


def test_upbit_exceptions_coarse_coins_and_stablecoins() -> None:
    assert upbit_krw_tick(500, utc_ms("2024-11-01"), base="TRX") == D(1)
    assert upbit_krw_tick(500, utc_ms("2024-11-01"), base="XRP") == D("0.1")
    assert upbit_krw_tick(1400, utc_ms("2025-05-01"), base="USDT") == D("0.5")
    assert upbit_krw_tick(1400, utc_ms("2025-01-01"), base="USDT") == D(1)


def test_upbit_instrument_rounds_and_checks_with_the_band_of_the_price() -> None:
    btc = upbit_krw_instrument("BTC", 50_000_000, BEFORE_2024)
    assert btc.tick == D(1000) and btc.symbol == "KRW-BTC"
    assert btc.price(D(1000300), Side.BUY) == D(1000000)
    assert btc.price(D(999950), Side.SELL) == D(1000000)  # next band, still valid
    assert btc.price(D(1999700), Side.SELL) == D(2000000)
    violation = btc.check(D(50000500), D("0.001"))
    assert violation == FilterViolation(
        "PRICE_FILTER", "price 50000500 not a multiple of tick 1000"
    )
    assert btc.check(D(50000000), D("0.0001")) is None  # exactly the 5000 KRW minimum
    assert btc.check(D(50000000), D("0.00009")) == FilterViolation(
        "MIN_NOTIONAL", "notional 4500 below minNotional 5000"
    )
    assert btc.check(D(1500500), D("0.01")) is None  # 500 tick in the 1M-2M band


def test_upbit_pre_2024_table_agrees_with_the_simulator_catalog() -> None:
    assert [(D(str(low)), tick) for low, tick in UPBIT_KRW_BANDS] == list(UPBIT_KRW_ERA_A)


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("key", "bands"),
    [
        ("era_A_until_2024-01-28", UPBIT_KRW_ERA_A),
        ("era_B_2024-01-29_to_2025-07-30", UPBIT_KRW_ERA_B),
        ("era_C_from_2025-07-31", UPBIT_KRW_ERA_C),
    ],
)
def test_embedded_upbit_tables_match_the_recorded_json(
    shared_data: Path, key: str, bands: tuple[tuple[D, D], ...]
) -> None:
    rows = json.loads((shared_data / UPBIT_TABLE).read_text(encoding="utf-8"))[key]
    from_file = [(D(str(low)), D(str(tick))) for low, _high, tick in rows]
    assert list(bands) == from_file
    for (low, _high, _tick), (_next_low, next_high, _t) in pairwise(rows):
        assert next_high == low  # contiguous bands, highest first
