"""What the risk gate reads: the account (`PortfolioView`) and the market (`MarketView`).

Kept apart from the gate's rules (risk/gate.py) because these are the inputs every caller
builds before it asks the gate (the trader, the fast backtester): snapshots with their own
small derivations, which symbols hold a position slot (dust does not, `is_dust`) and the
post-trade risk of entries on the account, made once per view. risk/gate.py re-exports
both views, so `from risk.gate import PortfolioView, MarketView` stands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from model.instruments import Instrument
from risk.post_trade import CandidateRisk
from risk.sizing import too_small
from risk.var import ReturnHistory


@dataclass(frozen=True, slots=True)
class PortfolioView:
    """The account as risk sees it, in the account currency.

    `cash` is *free* cash (not locked by open orders). `positions` maps symbol to
    (amount held, mark price). `pending_buys` maps symbol to the quote value of open buy
    orders: counted as held for the per-symbol cap, the position count and VaR, so two
    entries before a fill cannot together break the 5 % cap.

    Day-start and peak equity are deliberately not here: they live in `TradingState`, the
    one place `resume()` re-bases them, so the breaker and the gate can never disagree.

    A snapshot: its mappings are not changed once it is built, so what the gate derives
    from it (the open symbols, the held values' post-trade risk) is kept for the next
    intent checked against the same view (a step's denied entries share one).
    """

    equity: Decimal
    cash: Decimal
    positions: Mapping[str, tuple[Decimal, Decimal]]
    pending_buys: Mapping[str, Decimal] = field(default_factory=dict)
    _derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False,
                                     compare=False)

    def value_of(self, symbol: str) -> Decimal:
        """Held value at mark plus pending buys, quote."""
        amount, price = self.positions.get(symbol, (Decimal(0), Decimal(0)))
        return amount * price + self.pending_buys.get(symbol, Decimal(0))

    def open_symbols(self, instruments: Mapping[str, Instrument] | None = None) -> set[str]:
        """Symbols held or being bought.

        With `instruments`, dust is not a position: a holding too small to sell in one order
        (under one lot, the minimum quantity or the minimum notional at its mark, e.g. what
        a base-asset fee leaves behind) does not count, or it would hold a slot of
        `max_open_positions` for ever, since no exit can ever close it."""
        if instruments is None:
            return self._open_symbols(None)
        known = self._derived.get("open_symbols")
        if known is None or known[0] is not instruments:  # the dust rules: Decimal per holding
            known = self._derived["open_symbols"] = (instruments, self._open_symbols(instruments))
        return set(known[1])

    def _open_symbols(self, instruments: Mapping[str, Instrument] | None) -> set[str]:
        held = {s for s, (amount, mark) in self.positions.items()
                if amount > 0 and (instruments is None or s not in instruments
                                   or not is_dust(instruments[s], amount, mark))}
        return held | {s for s, value in self.pending_buys.items() if value > 0}

    def candidate_risk(self, history: ReturnHistory, confidence: float,
                       horizon_days: float) -> CandidateRisk:
        """Post-trade VaR/ES of entries on this account over `history` (held or being
        bought, at value_of), made once per view and history."""
        known = self._derived.get("candidate_risk")
        if (known is None or known.history is not history or known.confidence != confidence
                or known.horizon_days != horizon_days):
            values = {s: float(self.value_of(s)) for s in self.open_symbols()}
            known = self._derived["candidate_risk"] = CandidateRisk(
                values, float(self.equity), history, confidence, horizon_days)
        return known


def is_dust(instrument: Instrument, amount: Decimal, mark: Decimal) -> bool:
    """Whether a holding of `amount` at `mark` is too small to sell in one order."""
    return too_small(instrument, instrument.amount(amount), mark) is not None


@dataclass(frozen=True, slots=True)
class MarketView:
    """What risk needs from the market: trading rules and aligned return history.

    `anomalous` maps each coin the anomaly detector has in alarm to the words of why
    (risk/anomaly.py); such a coin gets no new entries, while exits stay allowed.
    `cooling_down` does the same for each coin the operator force-exited within
    `trading.forceexit_cooldown_minutes`, with the words of until when (trading/operator.py)."""

    instruments: Mapping[str, Instrument]
    history: ReturnHistory
    anomalous: Mapping[str, str] = field(default_factory=dict)
    cooling_down: Mapping[str, str] = field(default_factory=dict)
