"""Sizing on Upbit's instruments, whose `max_qty` is 0 (no ceiling): a buy is sized by risk
and cap as anywhere else, never to zero by a ceiling that does not exist."""

from __future__ import annotations

from decimal import Decimal as D

from exchange.feeds.upbit_rest import upbit_instrument
from risk.limits import RiskLimits
from risk.sizing import size_entry

NOV_2023_MS = 1_700_000_040_000


def test_krw_buy_without_a_max_qty_is_sized_by_the_five_percent_cap() -> None:
    instrument = upbit_instrument("KRW-HAN", 1_604_000.0, NOV_2023_MS)
    assert instrument.max_qty == 0
    sizing = size_entry(equity=D(100_000_000), entry_price=D(1_604_000), stop_price=D(1_565_000),
                        confidence=1.0, held_value=D(0), instrument=instrument,
                        limits=RiskLimits(max_position_pct=D(5)))
    # 5% of 100,000,000 KRW = 5,000,000 KRW -> 3.11720698 HAN at 1,604,000 (lot 1e-8, down)
    assert sizing.amount == D("3.11720698")
    assert sizing.notional <= D(5_000_000)
