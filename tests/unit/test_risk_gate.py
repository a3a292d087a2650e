"""Risk gate: checks run in a fixed order, and every refusal says which rule and why."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.instruments import Instrument, Side
from risk.gate import (
    Approved,
    CancelIntent,
    Denied,
    DenyReason,
    EntryIntent,
    ExitIntent,
    MarketView,
    PortfolioView,
    RiskGate,
    risk_limit_denial,
)
from risk.limits import RiskLimits
from risk.state import TradingMode, TradingState
from risk.var import PortfolioRisk, ReturnHistory

GATE = RiskGate()
LIMITS = RiskLimits(min_return_observations=20)
STATE = TradingState.initial(D("10000"), 0)


def coin(symbol: str, lot: str = "0.001", min_notional: str = "5") -> Instrument:
    return Instrument(symbol, symbol[:-4], "USDT", D("0.01"), D(lot), D(min_notional))


SYMBOLS = ("AUSDT", "BUSDT", "CUSDT", "XUSDT")
QUIET = np.random.default_rng(7).normal(0.0, 0.001, (200, len(SYMBOLS)))
MARKET = MarketView({s: coin(s) for s in SYMBOLS}, ReturnHistory(SYMBOLS, QUIET))


def portfolio(cash: str = "10000", equity: str = "10000", **held: tuple[str, str]) -> PortfolioView:
    positions = {s: (D(a), D(p)) for s, (a, p) in held.items()}
    return PortfolioView(equity=D(equity), cash=D(cash), positions=positions)


def buy(symbol: str = "XUSDT", entry: str = "100", stop: str = "99", conf: float = 0.8):
    return EntryIntent(symbol, Side.BUY, D(entry), D(stop), conf)


def market_with(symbol_returns: list[float]) -> MarketView:
    """XUSDT gets these returns (20 rows); nothing else is held."""
    history = ReturnHistory(("XUSDT",), np.array(symbol_returns)[:, None])
    return MarketView({"XUSDT": coin("XUSDT")}, history)


def test_approved_entry_carries_amount_price_breakdown_and_post_trade_risk() -> None:
    decision = GATE.check(buy(), portfolio(), MARKET, LIMITS, STATE)
    assert isinstance(decision, Approved)
    assert (decision.amount, decision.price) == (D("5"), D("100"))
    assert decision.sizing is not None and decision.sizing.capped
    assert decision.detail.startswith("2% risk × 0.8 confidence / 1% stop = 160% of equity")
    assert decision.risk is not None and decision.risk.observations == 200


@pytest.mark.parametrize(
    ("case", "intent", "view", "limits", "reason", "detail"),
    [
        ("unknown symbol", buy("ZZZUSDT"), portfolio(), LIMITS, DenyReason.UNKNOWN_SYMBOL,
         "no instrument rules for ZZZUSDT"),
        ("short entry on spot", EntryIntent("XUSDT", Side.SELL, D("100"), D("101"), 1.0),
         portfolio(), LIMITS, DenyReason.INVALID_INTENT, "cannot open a short"),
        ("stop above buy entry", buy(stop="101"), portfolio(), LIMITS,
         DenyReason.INVALID_INTENT, "must be below entry"),
        ("stop within a tick of entry", buy(entry="100.004", stop="100.001"), portfolio(),
         LIMITS, DenyReason.INVALID_INTENT, "must be below entry 100.00"),
        ("nan confidence", buy(conf=float("nan")), portfolio(), LIMITS,
         DenyReason.INVALID_INTENT, "confidence"),
        ("zero confidence", buy(conf=0.0), portfolio(), LIMITS, DenyReason.INVALID_INTENT,
         "confidence"),
        ("max open positions", buy(), portfolio(AUSDT=("1", "10"), BUSDT=("1", "10")),
         replace(LIMITS, max_open_positions=2), DenyReason.MAX_POSITIONS,
         "2 positions open = max 2"),
        ("symbol already at cap", buy(), portfolio(XUSDT=("5", "100")), LIMITS,
         DenyReason.POSITION_LIMIT, "XUSDT already 5.00% of equity ≥ cap 5%"),
        ("too small for min notional", buy(), portfolio(equity="80", cash="80"), LIMITS,
         DenyReason.MIN_NOTIONAL, "notional 4 USDT < min notional 5 USDT"),
        ("not enough free cash", buy(), portfolio(cash="400"), LIMITS,
         DenyReason.INSUFFICIENT_CASH, "needs 500.50 USDT incl. 0.1% fee reserve, 400.00 free"),
        ("too little history", buy(), portfolio(), replace(LIMITS, min_return_observations=500),
         DenyReason.NO_RISK_DATA, "200 complete return rows < 500 needed"),
    ],
)  # fmt: skip
def test_entry_is_denied_with_reason_and_detail(
    case: str,
    intent: EntryIntent,
    view: PortfolioView,
    limits: RiskLimits,
    reason: DenyReason,
    detail: str,
) -> None:
    decision = GATE.check(intent, view, MARKET, limits, STATE)
    assert isinstance(decision, Denied), case
    assert decision.reason is reason, (case, decision)
    assert detail in decision.detail, (case, decision.detail)


def test_too_small_size_is_denied_not_bumped_up_to_the_minimum() -> None:
    # The 5% cap allows 4 USDT; the exchange wants 5. Buying 5 would break the cap.
    decision = GATE.check(buy(), portfolio(equity="80", cash="80"), MARKET, LIMITS, STATE)
    assert isinstance(decision, Denied) and decision.reason is DenyReason.MIN_NOTIONAL
    assert "capped at 5% = 4 USDT" in decision.detail


def test_lot_too_coarse_for_the_cap_is_denied_as_min_notional() -> None:
    market = replace(MARKET, instruments={"XUSDT": coin("XUSDT", lot="10")})
    decision = GATE.check(buy(), portfolio(), market, LIMITS, STATE)
    assert isinstance(decision, Denied) and decision.reason is DenyReason.MIN_NOTIONAL
    assert "rounds down to 0" in decision.detail


def test_a_symbol_already_held_does_not_count_again_against_max_positions() -> None:
    view = portfolio(AUSDT=("1", "10"), XUSDT=("1", "100"))
    decision = GATE.check(buy(), view, MARKET, replace(LIMITS, max_open_positions=2), STATE)
    assert isinstance(decision, Approved)


def test_pending_buys_count_against_the_cap_and_the_position_count() -> None:
    view = replace(portfolio(), pending_buys={"XUSDT": D("500")})
    decision = GATE.check(buy(), view, MARKET, LIMITS, STATE)
    assert isinstance(decision, Denied) and decision.reason is DenyReason.POSITION_LIMIT
    assert view.open_symbols() == {"XUSDT"}


def test_held_symbol_without_history_is_denied_for_lack_of_risk_data() -> None:
    market = replace(MARKET, instruments={**MARKET.instruments, "NEWUSDT": coin("NEWUSDT")})
    view = portfolio(NEWUSDT=("1", "10"))
    decision = GATE.check(buy(), view, market, LIMITS, STATE)
    assert isinstance(decision, Denied) and decision.reason is DenyReason.NO_RISK_DATA
    assert "NEWUSDT" in decision.detail


# 20 returns for XUSDT; the sized order is 500 USDT (5% cap) on 10000 equity.
VAR_2_4 = [-0.6, -0.48] + [0.01] * 18  # VaR = 0.48 x 500 = 240 = 2.4%, ES = 300 = 3.0%
ES_4_5 = [-0.9, -0.02] + [0.01] * 18  # VaR = 10 = 0.1%, ES = 450 = 4.5%


def test_post_trade_var_over_the_limit_is_denied_with_the_numbers() -> None:
    decision = GATE.check(buy(), portfolio(), market_with(VAR_2_4), LIMITS, STATE)
    assert decision == Denied(DenyReason.VAR_LIMIT, "VaR 2.4% > limit 2.0% (historical, 95%, 1d)")


def test_post_trade_es_over_the_limit_is_denied_with_the_numbers() -> None:
    decision = GATE.check(buy(), portfolio(), market_with(ES_4_5), LIMITS, STATE)
    assert decision == Denied(DenyReason.ES_LIMIT, "ES 4.5% > limit 3.0% (historical, 95%, 1d)")


def test_var_method_picks_which_var_the_limit_applies_to() -> None:
    # One crash in 20 days: historical VaR sees 0.1%; the normal fit sees sigma 20% -> 1.67%.
    base = replace(LIMITS, var_limit_pct=D("1"), es_limit_pct=D("100"))
    historical = GATE.check(buy(), portfolio(), market_with(ES_4_5), base, STATE)
    parametric = GATE.check(
        buy(), portfolio(), market_with(ES_4_5), replace(base, var_method="parametric"), STATE
    )
    assert isinstance(historical, Approved) and historical.risk is not None
    assert historical.risk.var_param_frac == pytest.approx(0.0167, abs=1e-4)
    assert parametric == Denied(
        DenyReason.VAR_LIMIT, "VaR 1.7% > limit 1.0% (parametric, 95%, 1d)"
    )


def risk_of(var: float, es: float) -> PortfolioRisk:
    return PortfolioRisk(var, es, var, es, 0.95, 1.0, 250)


@pytest.mark.parametrize(
    ("var", "es", "reason", "detail"),
    [
        (0.0199, 0.0299, None, ""),
        (0.0200, 0.0300, None, ""),  # exactly at both limits: allowed (deny only when >)
        (0.020001, 0.0300, DenyReason.VAR_LIMIT, "VaR 2.0001% > limit 2.0000%"),
        (0.0201, 0.0300, DenyReason.VAR_LIMIT, "VaR 2.01% > limit 2.00%"),
        (0.024, 0.0300, DenyReason.VAR_LIMIT, "VaR 2.4% > limit 2.0%"),
        (0.0200, 0.0301, DenyReason.ES_LIMIT, "ES 3.01% > limit 3.00%"),
        (0.030, 0.050, DenyReason.VAR_LIMIT, "VaR 3.0% > limit 2.0%"),  # VaR is checked first
    ],
)
def test_risk_limit_boundary_denies_only_strictly_above(
    var: float, es: float, reason: DenyReason | None, detail: str
) -> None:
    denial = risk_limit_denial(risk_of(var, es), RiskLimits())
    if reason is None:
        assert denial is None
    else:
        assert denial is not None and denial.reason is reason
        assert denial.detail.startswith(detail)


def test_exit_is_sized_to_what_is_held_and_rounded_to_lot() -> None:
    view = portfolio(XUSDT=("2.5", "100"))
    decision = GATE.check(ExitIntent("XUSDT", D("100.001"), D("9")), view, MARKET, LIMITS, STATE)
    assert isinstance(decision, Approved)
    assert (decision.amount, decision.price) == (D("2.5"), D("100.01"))  # sells round up


@pytest.mark.parametrize(
    ("held", "amount", "reason"),
    [
        (None, None, DenyReason.NO_POSITION),
        (("0.01", "100"), None, DenyReason.MIN_NOTIONAL),
        (("1", "100"), "0", DenyReason.INVALID_INTENT),
    ],
)
def test_exit_of_nothing_dust_or_zero_is_denied(held, amount, reason: DenyReason) -> None:
    view = portfolio(XUSDT=held) if held else portfolio()
    intent = ExitIntent("XUSDT", D("100"), D(amount) if amount else None)
    decision = GATE.check(intent, view, MARKET, LIMITS, STATE)
    assert isinstance(decision, Denied) and decision.reason is reason and decision.detail


def test_cancel_is_always_approved_even_when_halted() -> None:
    halted = replace(STATE, mode=TradingMode.HALTED)
    decision = GATE.check(CancelIntent("XUSDT", "c-9"), portfolio(), MARKET, LIMITS, halted)
    assert decision == Approved(D(0), None, detail="cancel c-9")


def test_trading_state_is_checked_before_anything_else() -> None:
    reducing = replace(STATE, mode=TradingMode.REDUCING, reason="daily loss 3.1% ≥ reduce 3%")
    decision = GATE.check(buy("ZZZUSDT", stop="101"), portfolio(), MARKET, LIMITS, reducing)
    assert decision == Denied(
        DenyReason.TRADING_STATE,
        "REDUCING (daily loss 3.1% ≥ reduce 3%): exits and cancels only",
    )


@settings(max_examples=200, deadline=None)
@given(
    equity=st.decimals("50", "1000000", places=2),
    held_frac=st.decimals("0", "0.08", places=4),
    price=st.decimals("0.01", "50000", places=2),
    stop_frac=st.decimals("0.001", "0.5", places=3),
    confidence=st.floats(0.01, 1.0),
    lot=st.sampled_from(["0.00001", "0.001", "0.1", "1"]),
)
def test_approved_position_never_exceeds_five_percent_of_equity_after_the_order(
    equity: D, held_frac: D, price: D, stop_frac: D, confidence: float, lot: str
) -> None:
    instrument = Instrument("XUSDT", "X", "USDT", D("0.01"), D(lot), D("1"))
    market = MarketView({"XUSDT": instrument}, ReturnHistory(("XUSDT",), QUIET[:, :1]))
    held_amount = instrument.amount(equity * held_frac / price)
    view = PortfolioView(
        equity=equity, cash=equity, positions={"XUSDT": (held_amount, price)}
    )
    intent = EntryIntent("XUSDT", Side.BUY, price, price * (1 - stop_frac), confidence)
    decision = GATE.check(intent, view, market, LIMITS, STATE)
    if isinstance(decision, Approved):
        after = held_amount * price + decision.amount * decision.price
        assert after <= equity * D("0.05")
        assert decision.amount > 0 and decision.amount % instrument.lot == 0
    else:
        assert decision.detail
