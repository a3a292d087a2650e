"""Dust is not a position: a holding too small to sell never holds a max-positions slot.

A base-asset fee, or a sell rounded down to the lot, can leave a few units of a coin behind.
No exit can ever close such a holding (it is under the lot, the minimum quantity or the
minimum notional), so if it counted against `max_open_positions` it would take a slot for
ever. A holding that can be sold in one order counts, however small otherwise.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import numpy as np
import pytest

from model.instruments import Instrument, Side
from risk.gate import (
    Approved,
    Denied,
    DenyReason,
    EntryIntent,
    MarketView,
    PortfolioView,
    RiskGate,
)
from risk.gate_views import is_dust
from risk.limits import RiskLimits
from risk.state import TradingState
from risk.var import ReturnHistory

SYMBOLS = ("AUSDT", "BUSDT", "XUSDT")
RULES = {s: Instrument(s, s[:-4], "USDT", D("0.01"), D("0.001"), D(5), min_qty=D("0.002"))
         for s in SYMBOLS}
MARKET = MarketView(RULES, ReturnHistory(
    SYMBOLS, np.random.default_rng(7).normal(0.0, 0.001, (200, len(SYMBOLS)))))
TWO_SLOTS = RiskLimits(min_return_observations=20, max_open_positions=2)
STATE = TradingState.initial(D(10000), 0)
BUY_X = EntryIntent("XUSDT", Side.BUY, D(100), D(99), 0.8)


def held(**positions: tuple[str, str]) -> PortfolioView:
    return PortfolioView(equity=D(10000), cash=D(10000),
                         positions={s: (D(a), D(p)) for s, (a, p) in positions.items()})


@pytest.mark.parametrize(("amount", "mark", "dust", "why"), [
    ("0.0009", "100000", True, "under one lot, worth 90: no order can carry it"),
    ("0.0019", "100000", True, "one lot, but under the minimum quantity"),
    ("0.04", "100", True, "0.04 x 100 = 4 < min notional 5"),
    ("0.05", "100", False, "exactly the min notional: sellable"),
    ("0.0501", "100", False, "the off-grid rest rounds down to 0.050, still sellable"),
    ("3", "10", False, "an ordinary position"),
])
def test_dust_is_what_no_single_sell_order_could_carry(amount: str, mark: str, dust: bool,
                                                       why: str) -> None:
    assert is_dust(RULES["AUSDT"], D(amount), D(mark)) is dust, why


def test_dust_positions_do_not_count_as_open_symbols() -> None:
    view = held(AUSDT=("0.04", "100"), BUSDT=("3", "10"))
    assert view.open_symbols(RULES) == {"BUSDT"}
    assert view.open_symbols() == {"AUSDT", "BUSDT"}  # without rules: every holding counts


def test_pending_buy_on_a_dust_symbol_still_counts() -> None:
    view = replace(held(AUSDT=("0.04", "100")), pending_buys={"AUSDT": D(50)})
    assert view.open_symbols(RULES) == {"AUSDT"}


def test_dust_does_not_use_up_a_max_positions_slot() -> None:
    # Given two slots, one real position and one dust holding,
    view = held(AUSDT=("0.04", "100"), BUSDT=("3", "10"))
    # when a third coin is bought, the dust does not make it the third position.
    decision = RiskGate().check(BUY_X, view, MARKET, TWO_SLOTS, STATE)
    assert isinstance(decision, Approved), decision


def test_two_sellable_positions_still_fill_both_slots() -> None:
    view = held(AUSDT=("0.05", "100"), BUSDT=("3", "10"))
    decision = RiskGate().check(BUY_X, view, MARKET, TWO_SLOTS, STATE)
    assert isinstance(decision, Denied) and decision.reason is DenyReason.MAX_POSITIONS
    assert decision.detail == "2 positions open = max 2"
