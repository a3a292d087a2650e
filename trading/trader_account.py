"""What a trader's account is worth, and what it tells status: cash, equity, the portfolio
the risk gate weighs, the open positions and orders as plain data.

A mixin of `trading.trader.Trader`, apart from the decision step so the trader stays
readable: these only read the account (broker balances, positions, marks, the ledger's
booked cash), they never change it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from model.instruments import Side
from risk.gate import PortfolioView
from trading.operator import cooldown_rows

if TYPE_CHECKING:
    from risk.anomaly import AnomalyDetector
    from risk.state import TradingState
    from state.ledger import Ledger
    from trading.broker import Broker
    from trading.last_prices import LastPrices
    from trading.performance import RoundTrip
    from trading.positions import Position


_ZERO = Decimal(0)


class TraderAccount:
    """cash / equity / portfolio / summary, mixed into `Trader`."""

    # Provided by Trader (declared for type checkers).
    quote_asset: str
    broker: Broker
    ledger: Ledger
    positions: dict[str, Position]
    last_price: LastPrices
    state: TradingState | None
    anomaly: AnomalyDetector | None
    fills: int
    round_trips: list[RoundTrip]
    denials: dict[str, int]
    last_denial: str
    cooldowns: dict[str, int]
    _booked_cash: Decimal | None

    def cash(self) -> Decimal:
        """The quote balance (free and reserved) that goes with `positions` (ADR-029).

        Paper: the broker's, which moves in the same call as the fill it books. Live (the
        broker's `balances_run_ahead`): the ledger's own, moved by the same booked events as
        the positions. The exchange's balance runs ahead of them (it already shows a fill
        the broker has not reported), and adding it to the booked positions showed a fill's
        notional as a loss or a gain until the fill was booked, enough to trip the
        daily-loss and drawdown breakers."""
        if not self.broker.balances_run_ahead:
            return self.broker.balances().get(self.quote_asset, Decimal(0))
        if self._booked_cash is None:
            self._booked_cash = self._ledger_cash()
        return self._booked_cash

    def _ledger_cash(self) -> Decimal:
        """The ledger's quote balance, free and locked."""
        for row in self.ledger.balances():
            if row.asset == self.quote_asset:
                return row.free + row.locked
        return Decimal(0)

    def equity(self) -> Decimal:
        """`cash()` plus every position at its last price: one consistent snapshot, both
        halves as of the same booked events."""
        return self._equity_with(self.cash())

    def _equity_with(self, cash: Decimal) -> Decimal:
        """`cash` (what `cash()` returned) plus every position at its last price: `cash +
        sum((amount * mark for each position), Decimal(0))`, the sum written out (the same
        additions in the same order; a closed position's zero term still sets the digits)."""
        held = _ZERO
        mark = self.last_price.mark
        for symbol, position in self.positions.items():
            held = held + position.amount * mark(symbol, position.avg_price)
        return cash + held

    def _portfolio(self, equity: Decimal) -> PortfolioView:
        free = self.broker.free_balance(self.quote_asset)
        pending: dict[str, Decimal] = {}
        for order in self.broker.open_orders():
            # In paper, a buy with a cancel requested is on its way out: no market event can
            # fill it any more, as in the env (ADR-011). A live exchange may still fill it
            # before the cancel lands, so there it counts against the 5% cap until it is gone.
            replaced = (order.cancel_requested_ms is not None
                        and not self.broker.cancel_may_still_fill)
            if order.side is Side.BUY and order.price is not None and not replaced:
                pending[order.symbol] = pending.get(order.symbol, Decimal(0)) + order.remaining * order.price
        positions = {
            s: (p.amount, self.last_price.get(s, p.avg_price))
            for s, p in self.positions.items() if p.amount > 0
        }
        return PortfolioView(equity=equity, cash=free, positions=positions, pending_buys=pending)

    def anomaly_score(self, symbol: str) -> float | None:
        """The coin's latest anomaly score (x its threshold), None when detection is off."""
        latest = self.anomaly.latest if self.anomaly is not None else None
        return latest.score_of(symbol) if latest is not None else None

    def summary(self) -> dict[str, Any]:
        """Equity, cash, positions and open orders as plain data (for status)."""
        cash = self.cash()
        return {
            "quote_asset": self.quote_asset,
            "equity": str(self.equity()),
            "cash": str(cash),
            "trading_state": self.state.mode.value if self.state else "ACTIVE",
            "positions": [
                {"symbol": s, "amount": str(p.amount), "avg_price": str(p.avg_price),
                 "last": str(self.last_price.get(s, p.avg_price)),
                 "unrealized_pnl": str((self.last_price.get(s, p.avg_price) - p.avg_price) * p.amount)}
                for s, p in sorted(self.positions.items()) if p.amount > 0
            ],
            "open_orders": [
                {"client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side.value,
                 "price": str(o.price), "remaining": str(o.remaining)}
                for o in self.broker.open_orders()
            ],
            "fills": self.fills,
            "today_pnl": str(self.equity() - self.state.day_start_equity) if self.state else "0",
            "round_trips": len(self.round_trips),
            "win_rate": (sum(1 for t in self.round_trips if t.pnl > 0) / len(self.round_trips)
                         if self.round_trips else None),
            "denials": dict(self.denials),
            "last_denial": self.last_denial,
            # symbols force-exited by the operator, no new entries until then (trading/operator.py)
            "cooldowns": cooldown_rows(self.cooldowns),
            "anomaly": (self.anomaly.latest.to_dict() if self.anomaly is not None
                        and self.anomaly.latest is not None else None),
        }
