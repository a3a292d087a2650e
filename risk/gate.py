"""The risk gate: every order the policy wants passes here, and is sized or refused with a why.

`RiskGate.check(intent, portfolio, market, limits, state)` runs the checks in a fixed order
and stops at the first refusal, so the reason is always the most fundamental one:

1. trading state: REDUCING lets only exits and cancels through; HALTED only cancels;
2. (entries) intent sanity: known symbol, not in anomaly alarm (ANOMALY), not cooling down
   after an operator's forced exit (COOLDOWN), spot long only,
   stop below entry, 0 < confidence <= 1;
3. max open positions (a symbol already held or being bought does not count again; dust,
   a holding too small to sell, does not count at all);
4. sizing: 2 % risk x confidence / stop distance, capped at 5 % of equity per symbol;
5. exchange minimums (lot, min qty, min notional): too small is *denied*, never bumped up;
6. cash: order cost plus a fee reserve must fit in free cash;
7. post-trade VaR and ES against their limits, denied when strictly above the limit.

Cancels are always allowed: they only ever reduce exposure. Exits are sized to what is
held. Inputs are small frozen dataclasses (the views are in risk/gate_views.py, imported
from here as well); money is `Decimal` in the account currency (every symbol's price must
be in that currency: converting BTC- or KRW-quoted markets is the caller's job). Pure: no
I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from model.instruments import Instrument, Side
from risk.gate_views import MarketView as MarketView
from risk.gate_views import PortfolioView as PortfolioView
from risk.limits import RiskLimits
from risk.post_trade import NOT_SURE, SURE_PASS, VAR_OVER, CandidateRisk
from risk.sizing import Sizing, size_entry, stop_distance, too_small
from risk.state import TradingMode, TradingState
from risk.var import PortfolioRisk

_HUNDRED = Decimal(100)
# Float noise allowance when comparing VaR/ES with a limit: a VaR of exactly 2 % passes.
_LIMIT_TOLERANCE = 1e-12


class DenyReason(Enum):
    """Machine-readable reason for a refusal; `Denied.detail` has the human words."""

    TRADING_STATE = "TRADING_STATE"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    INVALID_INTENT = "INVALID_INTENT"
    NO_POSITION = "NO_POSITION"
    MAX_POSITIONS = "MAX_POSITIONS"
    POSITION_LIMIT = "POSITION_LIMIT"
    MIN_NOTIONAL = "MIN_NOTIONAL"
    INSUFFICIENT_CASH = "INSUFFICIENT_CASH"
    NO_RISK_DATA = "NO_RISK_DATA"
    VAR_LIMIT = "VAR_LIMIT"
    ES_LIMIT = "ES_LIMIT"
    ANOMALY = "ANOMALY"
    COOLDOWN = "COOLDOWN"  # the operator force-exited the symbol recently


@dataclass(frozen=True, slots=True)
class EntryIntent:
    """Open or add to a position: buy `symbol` near `entry_price`, give up at `stop_price`."""

    symbol: str
    side: Side
    entry_price: Decimal
    stop_price: Decimal
    confidence: float  # in (0, 1]; scales the risk budget


@dataclass(frozen=True, slots=True)
class ExitIntent:
    """Reduce a position: sell `amount` (None = all of it) at `price`."""

    symbol: str
    price: Decimal
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CancelIntent:
    """Cancel an open order; always allowed."""

    symbol: str
    client_order_id: str


Intent = EntryIntent | ExitIntent | CancelIntent


@dataclass(frozen=True, slots=True)
class Approved:
    """Go ahead with this amount (lot grid) at this price (tick grid); 0/None for cancels."""

    amount: Decimal
    price: Decimal | None
    sizing: Sizing | None = None  # entries only: why this size
    risk: PortfolioRisk | None = None  # entries only: post-trade VaR/ES
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Denied:
    """Refused, with a reason code for code and a detail for people."""

    reason: DenyReason
    detail: str


Decision = Approved | Denied


class RiskGate:
    """Stateless: the trading state and limits come in with every call, so replay is exact."""

    def check(
        self,
        intent: Intent,
        portfolio: PortfolioView,
        market: MarketView,
        limits: RiskLimits,
        state: TradingState,
        *,
        figures: bool = True,
    ) -> Decision:
        """Approve (with the amount) or deny (with reason and detail) one intent.

        `figures=False`: an approved entry comes without its post-trade risk figures and
        its detail (the same verdict, amount, price and sizing), for a caller that reads
        nothing else of it (the fast backtester): they cost a second VaR pass and the
        sizing's breakdown text."""
        if isinstance(intent, CancelIntent):
            return Approved(Decimal(0), None, detail=f"cancel {intent.client_order_id}")
        denied = mode_denial(state, entry=isinstance(intent, EntryIntent))
        if denied is not None:
            return denied
        if isinstance(intent, ExitIntent):
            return _check_exit(intent, portfolio, market)
        return _check_entry(intent, portfolio, market, limits, figures=figures)


def mode_denial(state: TradingState, *, entry: bool) -> Denied | None:
    """The denial the trading mode alone gives an entry (`entry`) or an exit, before any
    figure is read: HALTED allows cancels only, REDUCING exits and cancels only. Callers
    that would pay to build the portfolio and market views may ask this first."""
    if state.mode is TradingMode.HALTED:
        return Denied(DenyReason.TRADING_STATE, f"HALTED ({state.reason}): cancels only")
    if entry and state.mode is TradingMode.REDUCING:
        return Denied(
            DenyReason.TRADING_STATE, f"REDUCING ({state.reason}): exits and cancels only"
        )
    return None


def _check_exit(intent: ExitIntent, portfolio: PortfolioView, market: MarketView) -> Decision:
    instrument = market.instruments.get(intent.symbol)
    if instrument is None:
        return Denied(DenyReason.UNKNOWN_SYMBOL, f"no instrument rules for {intent.symbol}")
    held, _ = portfolio.positions.get(intent.symbol, (Decimal(0), Decimal(0)))
    if held <= 0:
        return Denied(DenyReason.NO_POSITION, f"nothing held in {intent.symbol} to sell")
    if intent.price <= 0 or (intent.amount is not None and intent.amount <= 0):
        return Denied(
            DenyReason.INVALID_INTENT,
            f"exit price and amount must be positive: {intent.price}, {intent.amount}",
        )
    wanted = held if intent.amount is None else min(intent.amount, held)
    amount = instrument.amount(wanted)
    price = instrument.price(intent.price, Side.SELL)
    small = too_small(instrument, amount, price)
    if small:
        return Denied(DenyReason.MIN_NOTIONAL, f"exit {intent.symbol}: {small}")
    return Approved(amount, price, detail=f"exit {amount} of {held} {instrument.base} held")


def _check_entry(
    intent: EntryIntent, portfolio: PortfolioView, market: MarketView, limits: RiskLimits,
    *, figures: bool = True,
) -> Decision:
    instrument = market.instruments.get(intent.symbol)
    if instrument is None:
        return Denied(DenyReason.UNKNOWN_SYMBOL, f"no instrument rules for {intent.symbol}")
    if intent.symbol in market.anomalous:
        return Denied(DenyReason.ANOMALY, f"{intent.symbol}: {market.anomalous[intent.symbol]}")
    if intent.symbol in market.cooling_down:
        return Denied(DenyReason.COOLDOWN,
                      f"{intent.symbol}: {market.cooling_down[intent.symbol]}")
    invalid = _invalid_entry(intent, portfolio, instrument)
    if invalid:
        return Denied(DenyReason.INVALID_INTENT, invalid)

    open_symbols = portfolio.open_symbols(market.instruments)
    if intent.symbol not in open_symbols and len(open_symbols) >= limits.max_open_positions:
        return Denied(
            DenyReason.MAX_POSITIONS,
            f"{len(open_symbols)} positions open = max {limits.max_open_positions}",
        )

    held_value = portfolio.value_of(intent.symbol)
    sizing = size_entry(
        equity=portfolio.equity,
        entry_price=intent.entry_price,
        stop_price=intent.stop_price,
        confidence=intent.confidence,
        held_value=held_value,
        instrument=instrument,
        limits=limits,
        side=intent.side,
    )
    if sizing.room_notional <= 0:
        held_pct = held_value / portfolio.equity * _HUNDRED
        return Denied(
            DenyReason.POSITION_LIMIT,
            f"{intent.symbol} already {held_pct:.2f}% of equity ≥ cap {limits.max_position_pct}%",
        )
    small = too_small(instrument, sizing.amount, sizing.price)
    if small:
        return Denied(DenyReason.MIN_NOTIONAL, f"{small} ({sizing.breakdown})")

    cost = sizing.notional * (1 + limits.fee_reserve_pct / _HUNDRED)
    if cost > portfolio.cash:
        return Denied(
            DenyReason.INSUFFICIENT_CASH,
            f"needs {cost:.2f} {instrument.quote} incl. {limits.fee_reserve_pct}% fee reserve, "
            f"{portfolio.cash:.2f} free",
        )

    # A historical VaR limit reads no normal figure: they are computed for an approval only.
    normal = limits.var_method != "historical"
    if not figures and not normal:
        verdict, var_frac, observations = _sure_verdict(intent.symbol, sizing, portfolio,
                                                        market, limits)
        if verdict == SURE_PASS:
            return Approved(sizing.amount, sizing.price, sizing)
        if verdict == VAR_OVER:  # the full check's denial, from the same VaR
            over = risk_limit_denial(PortfolioRisk(
                var_frac, math.nan, math.nan, math.nan, limits.var_confidence,
                limits.var_horizon_days, observations), limits)
            assert over is not None and over.reason is DenyReason.VAR_LIMIT
            return over
    risk = _post_trade(intent.symbol, sizing, portfolio, market, limits, normal=normal)
    if isinstance(risk, Denied):
        return risk
    over = risk_limit_denial(risk, limits)
    if over:
        return over
    if not figures:
        return Approved(sizing.amount, sizing.price, sizing)
    if not normal:
        risk = _candidates(portfolio, market, limits).risk(intent.symbol, float(sizing.notional))
    return Approved(sizing.amount, sizing.price, sizing, risk, detail=sizing.breakdown)


def _invalid_entry(intent: EntryIntent, portfolio: PortfolioView, instrument: Instrument) -> str:
    """Why this entry cannot be sized at all, or "" if it can.

    The stop is checked against the entry price *on the tick grid*: rounding a buy down can
    put it at or below a stop that was a hair under the raw price.
    """
    if intent.side is not Side.BUY:
        return f"{intent.symbol}: spot account cannot open a short; use ExitIntent to sell"
    if not 0 < intent.confidence <= 1:
        return f"confidence must be in (0, 1], got {intent.confidence}"
    if portfolio.equity <= 0:
        return f"equity must be positive, got {portfolio.equity}"
    try:
        price = instrument.price(intent.entry_price, intent.side)
        stop_distance(price, intent.stop_price, intent.side)
    except ValueError as exc:
        return f"{intent.symbol}: {exc}"
    return ""


def _post_trade(
    symbol: str,
    sizing: Sizing,
    portfolio: PortfolioView,
    market: MarketView,
    limits: RiskLimits,
    *,
    normal: bool = True,
) -> PortfolioRisk | Denied:
    """`risk.var.post_trade_risk` of the sized entry (without the normal figures unless
    `normal`), or why it cannot be weighed."""
    try:
        risk = _candidates(portfolio, market, limits).risk(symbol, float(sizing.notional),
                                                            normal=normal)
    except (KeyError, ValueError) as exc:
        return Denied(DenyReason.NO_RISK_DATA, f"cannot compute post-trade VaR: {exc}")
    if risk.observations < limits.min_return_observations:
        return Denied(
            DenyReason.NO_RISK_DATA,
            f"{risk.observations} complete return rows < {limits.min_return_observations} needed",
        )
    return risk


def _sure_verdict(symbol: str, sizing: Sizing, portfolio: PortfolioView, market: MarketView,
                  limits: RiskLimits) -> tuple[str, float, int]:
    """`CandidateRisk.sure_verdict` of the sized entry on a historical VaR limit: whether
    `_post_trade` and `risk_limit_denial` would surely let it through, or surely deny it on
    the VaR (with the VaR), without making the figures (the losses' tail selected without
    numpy's partition); NOT_SURE for the full check."""
    try:
        return _candidates(portfolio, market, limits).sure_verdict(
            symbol, float(sizing.notional),
            float(limits.var_limit_pct) / 100 + _LIMIT_TOLERANCE,
            float(limits.es_limit_pct) / 100 + _LIMIT_TOLERANCE,
            limits.min_return_observations)
    except (KeyError, ValueError):
        return NOT_SURE, math.nan, 0


def _candidates(portfolio: PortfolioView, market: MarketView,
                limits: RiskLimits) -> CandidateRisk:
    return portfolio.candidate_risk(market.history, limits.var_confidence,
                                    limits.var_horizon_days)


def risk_limit_denial(risk: PortfolioRisk, limits: RiskLimits) -> Denied | None:
    """VAR_LIMIT / ES_LIMIT when post-trade risk is strictly above its limit, else None.

    At exactly the limit the order passes (within 1e-12 of float noise).
    """
    var_frac = risk.var_hist_frac if limits.var_method == "historical" else risk.var_param_frac
    var_limit = float(limits.var_limit_pct) / 100
    if var_frac > var_limit + _LIMIT_TOLERANCE:
        shown, limit = _pcts(var_frac, var_limit)
        return Denied(
            DenyReason.VAR_LIMIT,
            f"VaR {shown} > limit {limit} "
            f"({limits.var_method}, {limits.var_confidence:.0%}, {limits.var_horizon_days:g}d)",
        )
    es_limit = float(limits.es_limit_pct) / 100
    if risk.es_hist_frac > es_limit + _LIMIT_TOLERANCE:
        shown, limit = _pcts(risk.es_hist_frac, es_limit)
        return Denied(
            DenyReason.ES_LIMIT,
            f"ES {shown} > limit {limit} "
            f"(historical, {limits.var_confidence:.0%}, {limits.var_horizon_days:g}d)",
        )
    return None


def _pcts(value: float, limit: float) -> tuple[str, str]:
    """Both fractions as percents, with just enough decimals that they read differently."""
    for places in (1, 2, 3, 4, 6, 9):
        shown, bound = f"{value * 100:.{places}f}%", f"{limit * 100:.{places}f}%"
        if shown != bound:
            break
    return shown, bound
