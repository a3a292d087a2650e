"""The acting half of a decision step: each action the policy asked for, weighed by the
risk gate and sent to the broker, with its decisions row.

A mixin of `trading.trader.Trader`, apart from the step itself so the trader stays
readable: a quiet step (HOLDs only, most of them) never comes here; one that acts, or runs
with anomaly detection on, writes its rows from here (trading/step_records.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from model.instruments import Instrument, Side
from model.orders import OrderEvent, OrderRequest, OrderType
from risk.gate import (
    Approved,
    CancelIntent,
    Denied,
    EntryIntent,
    ExitIntent,
    MarketView,
    PortfolioView,
    RiskGate,
)
from risk.var import ReturnHistory
from strategies.policy import Action, PolicyAction
from strategies.ranking import RankedCoin
from trading.step_records import hold_row, step_row

if TYPE_CHECKING:
    from risk.anomaly import AnomalyDetector
    from risk.limits import RiskLimits
    from risk.state import TradingState
    from state.ledger import Ledger
    from strategies.features import FeatureBook
    from trading.broker import Broker

RETURN_HISTORY_MINUTES = 1440  # one day of 1m returns feeds post-trade VaR/ES


class TraderActions:
    """`_decide` and `_act`, mixed into `Trader`."""

    # Provided by Trader (declared for type checkers).
    instruments: dict[str, Instrument]
    broker: Broker
    ledger: Ledger
    limits: RiskLimits
    gate: RiskGate
    state: TradingState | None
    anomaly: AnomalyDetector | None
    placed_ms: dict[str, int]
    denials: dict[str, int]
    last_denial: str
    _step_portfolio: PortfolioView | None
    _account_moves: int

    def _portfolio(self, equity: Decimal) -> PortfolioView:  # pragma: no cover - Trader's
        raise NotImplementedError

    def anomaly_score(self, symbol: str) -> float | None:  # pragma: no cover - Trader's
        raise NotImplementedError

    def _record(self, events: list[OrderEvent]) -> None:  # pragma: no cover - Trader's
        raise NotImplementedError

    def expect_execution(self, request: OrderRequest) -> None:  # pragma: no cover - Trader's
        raise NotImplementedError

    def _decide(self, ts_ms: int, book: FeatureBook, actions: list[PolicyAction],
                scores: dict[str, RankedCoin], anomalous: Mapping[str, str],
                cooling_down: dict[str, str], equity: Decimal) -> int:
        """Weigh and send the step's actions in order and record a decisions row for each
        (HOLD rows included); returns how many the gate denied."""
        denials = 0
        decisions: list[tuple[Any, ...]] = []  # one write after the last action
        # What the gate weighs, built at the first action it checks: most steps only hold,
        # and the return history ([1440, n] returns, its gap scan) is most of a quiet step's
        # risk work. Nothing before that action changes the book it reads.
        market: MarketView | None = None
        self._step_portfolio = None
        scored = self.anomaly is not None
        hold = Action.HOLD
        for action in actions:
            if action.action is hold:  # the gate weighs nothing (`_act`)
                decisions.append(hold_row(
                    ts_ms, action, scores.get(action.symbol),
                    self.anomaly_score(action.symbol) if scored else None))
            else:
                if market is None:
                    market = MarketView(
                        instruments=self.instruments,
                        history=ReturnHistory.of_bars(
                            book.symbols, book.recent_returns(RETURN_HISTORY_MINUTES),
                            book.bar_ms),
                        anomalous=anomalous, cooling_down=cooling_down)
                verdict, detail, sizing = self._act(action, ts_ms, market, equity)
                denials += verdict.startswith("DENIED")
                decisions.append(step_row(
                    ts_ms, action, verdict, detail, sizing, scores.get(action.symbol),
                    self.anomaly_score(action.symbol) if scored else None))
        self._step_portfolio = None
        self.ledger.record_decisions(decisions)
        return denials

    def _act(self, action: PolicyAction, ts_ms: int, market: MarketView | None,
             equity: Decimal) -> tuple[str, str, Any]:
        """`market` may be None only for a HOLD (the gate weighs nothing then)."""
        if action.action is Action.HOLD:
            return "HOLD", action.reason, None
        assert market is not None  # _step builds it before the first non-HOLD action
        # A denied action changes nothing the account view reads (orders, balances,
        # positions), so the next action of the step reuses it: a policy the gate keeps
        # denying (buy-and-hold over its VaR/ES limit) asks for a dozen coins every step.
        portfolio = self._step_portfolio
        if portfolio is None:
            portfolio = self._step_portfolio = self._portfolio(equity)
        intent: EntryIntent | ExitIntent | CancelIntent
        instrument = self.instruments[action.symbol]
        if action.action in (Action.CANCEL_BUY, Action.CANCEL_SELL):
            intent = CancelIntent(action.symbol, action.client_order_id or "")
        elif action.action is Action.BUY:
            assert action.limit_price is not None and action.stop_price is not None
            intent = EntryIntent(
                action.symbol, Side.BUY, instrument.price(action.limit_price, Side.BUY),
                Decimal(repr(action.stop_price)), action.confidence,
            )
        else:
            assert action.limit_price is not None
            intent = ExitIntent(action.symbol, instrument.price(action.limit_price, Side.SELL))
        assert self.state is not None  # step() sets it before it acts
        verdict = self.gate.check(intent, portfolio, market, self.limits, self.state)
        if isinstance(verdict, Denied):
            self.denials[verdict.reason.value] = self.denials.get(verdict.reason.value, 0) + 1
            self.last_denial = f"{action.symbol} {action.action.value}: {verdict.detail}"
            return f"DENIED:{verdict.reason.value}", _joined(action.reason, verdict.detail), None
        assert isinstance(verdict, Approved)
        self._step_portfolio = None  # an order placed or cancelled: the account moves
        self._account_moves += 1
        if isinstance(intent, CancelIntent):
            self._record(self.broker.cancel(intent.client_order_id, ts_ms))
            return "APPROVED", action.reason, None
        side = Side.BUY if action.action is Action.BUY else Side.SELL
        request = OrderRequest(
            client_order_id=self.broker.next_client_order_id(), symbol=action.symbol, side=side,
            type=OrderType.LIMIT, amount=verdict.amount, price=verdict.price, ts_event=ts_ms,
        )
        self.ledger.record(request)  # before sending: recovery can find unacknowledged orders
        self.expect_execution(request)
        self.placed_ms[request.client_order_id] = ts_ms
        self._record(self.broker.submit(request))
        sizing = verdict.sizing.breakdown if verdict.sizing else None
        return "APPROVED", _joined(action.reason, verdict.detail), sizing


def _joined(why: str, verdict_detail: str) -> str:
    """The policy's reason and the risk gate's detail, both kept for the decisions table."""
    return "; ".join(part for part in (why, verdict_detail) if part)
