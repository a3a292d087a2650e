"""What an operator can do to a running trader: pause, resume, force an exit; and what the
trader tells the operator (fills and trading-state changes, through `trading.notices`).

A mixin of `trading.trader.Trader`, kept apart so the trading step stays readable. Pause and
resume are the breaker's own transitions (`risk.state.pause` / `resume`), so an operator
pause obeys the same rules as a drawdown (REDUCING: exits and cancels only) and survives a
restart through the same `trading_state` record.

A forced exit is an operator override of the policy and of the gate's trading-state check
(an operator may flatten while HALTED, which is exactly when one wants to): it cancels every
resting order of the symbol at once, and at the first decision step after the broker has
applied the cancels and released the coins (paper: the next step; live: once the exchange
confirmed them) sends one MARKET sell of what is held. In paper the fill model fills it
against the next closed bar like any other order (ADR-006). The broker is any `Broker`
(trading/broker.py), so the same code flattens a live account.

A forced exit also starts a cool-down (`trading.forceexit_cooldown_minutes`, 0 = off): the
risk gate denies new entries in the symbol until it ends (`DenyReason.COOLDOWN`), or the
policy, which still likes the coin, buys it back minutes after the operator sold it. The
end times are kept in the ledger's kv (`forceexit_cooldowns`), so a restart keeps them.

Every fill is logged at INFO as one line, amounts on the instrument's grid (`fill_line`).

What differs between the daemon and a backtest here (the fill log line, the cool-down, the
notifier, the live broker's failure counts) is given to the trader once, when
`bot.app.assembly.make_trader` builds it (`TraderOptions` and collaborators); nothing sets
it afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from model import errors
from model.instruments import Instrument, Side, grid_text
from model.orders import Filled, OrderRequest, OrderType, PartiallyFilled, Rejected
from risk.state import Cause, StateEvent, TradingState
from risk.state import pause as pause_state
from risk.state import resume as resume_state
from trading.notices import NoticeKind, Notifier

if TYPE_CHECKING:
    from model.orders import OrderEvent
    from risk.limits import RiskLimits
    from state.ledger import Ledger
    from trading.broker import Broker

log = logging.getLogger(__name__)

ALL = "all"
COOLDOWNS_KV = "forceexit_cooldowns"  # symbol -> end of its cool-down, epoch ms
_BREAKER_CAUSES = {Cause.DAILY_LOSS, Cause.DRAWDOWN, Cause.ANOMALY}


@dataclass(frozen=True, slots=True)
class TraderOptions:
    """How a trader behaves where the daemon and a backtest differ, fixed when it is built.
    The defaults are a backtest's: quiet, and no cool-down."""

    log_fills: bool = False  # one INFO line per fill (the daemon); a backtest stays quiet
    forceexit_cooldown_ms: int = 0  # trading.forceexit_cooldown_minutes; 0 = off


class FailureLog(Protocol):
    """Where a live broker's refused orders are counted (bot/app/live_status.OrderFailures)."""

    def to_dict(self) -> dict[str, Any]: ...


class OperatorError(errors.OperatorError, ValueError):
    """An operator request that cannot be done as asked; the message says what to change."""


class OperatorControls:
    """pause / resume / force_exit and operator notices, mixed into `Trader`."""

    # Provided by Trader (declared for type checkers).
    instruments: dict[str, Instrument]
    broker: Broker  # paper or live: only the protocol's methods are used here
    ledger: Ledger
    limits: RiskLimits
    state: TradingState | None
    positions: dict[str, Any]
    force_exits: dict[str, int]  # symbol -> when the operator asked, epoch ms
    options: TraderOptions
    notifier: Notifier | None  # the daemon's; a backtest publishes nothing
    cooldowns: dict[str, int]  # symbol -> end of its post-forceexit cool-down, epoch ms
    # Live: refused orders and failed cancels, counted for status (bot/app/live_health.py).
    order_failures: FailureLog | None
    _account_moves: int  # bumped by every booked event batch and order sent

    def equity(self) -> Decimal:  # pragma: no cover - Trader's
        raise NotImplementedError

    def _record(self, events: list[OrderEvent]) -> None:  # pragma: no cover - Trader's
        raise NotImplementedError

    def _save_cursor(self) -> None:  # pragma: no cover - Trader's
        raise NotImplementedError

    def expect_execution(self, request: OrderRequest) -> None:  # pragma: no cover - Trader's
        raise NotImplementedError

    # --- pause / resume ---------------------------------------------------------------------
    def _current_state(self, now_ms: int) -> TradingState:
        if self.state is None:  # before the first decision step
            self.state = TradingState.initial(self.equity(), now_ms)
        return self.state

    def pause(self, now_ms: int, operator: str = "") -> tuple[StateEvent, ...]:
        """Stop new entries (REDUCING); exits and cancels go on. Lifted only by `resume`."""
        reason = f"paused by {operator}" if operator else "paused by operator"
        with self.ledger.batch():
            self.state, events = pause_state(self._current_state(now_ms), now_ms, reason)
            self._save_cursor()
        self.notify_transitions(events)
        return events

    def resume(self, now_ms: int, operator: str = "") -> tuple[StateEvent, ...]:
        """Back to ACTIVE, or refused with the reason (anomaly still set, daily loss too big)."""
        with self.ledger.batch():
            self.state, events = resume_state(self._current_state(now_ms), self.equity(), now_ms,
                                              self.limits, operator)
            self._save_cursor()
        self.notify_transitions(events)
        return events

    def reload_limits(self, limits: RiskLimits) -> None:
        """The operator's `reload-config` changed `[risk]`: the next decision step uses it."""
        self.limits = limits

    # --- forced exits ---------------------------------------------------------------------------
    def force_exit(self, symbol: str, now_ms: int) -> dict[str, Any]:
        """Cancel the symbol's resting orders now and queue a market sell of its position for
        the next decision step; `symbol="all"` does it for every symbol held or with orders."""
        wanted = symbol.strip().upper() if symbol.strip().lower() != ALL else ALL
        if wanted != ALL and wanted not in self.instruments:
            tradable = ", ".join(sorted(self.instruments)[:10])
            raise OperatorError(f"forceexit {symbol!r}: not a traded symbol (e.g. {tradable}); "
                                "or pass 'all'")
        orders = self.broker.open_orders()
        held = {s for s, p in self.positions.items() if p.amount > 0}
        symbols = (sorted(held | {o.symbol for o in orders}) if wanted == ALL else [wanted])
        canceled: list[str] = []
        queued: list[str] = []
        with self.ledger.batch():
            for order in orders:
                if order.symbol in symbols and order.cancel_requested_ms is None:
                    self._record(self.broker.cancel(order.client_order_id, now_ms))
                    canceled.append(order.client_order_id)
            for name in symbols:
                if name in held:
                    self.force_exits[name] = now_ms
                    queued.append(name)
            cooling = self._start_cooldowns(symbols, now_ms)
        for name in queued:
            log.warning("forced exit of %s requested by the operator", name)
        detail = (f"market sell of {', '.join(queued)} at the next decision step"
                  if queued else "nothing held to sell")
        if cooling:
            detail += f"; no new entries until {utc_minute(min(cooling.values()))}"
        return {
            "symbols": symbols,
            "canceled_orders": canceled,
            "exits_queued": queued,
            "cooldown_until": {s: utc_minute(until) for s, until in cooling.items()},
            "detail": detail,
        }

    # --- cool-down after a forced exit ---------------------------------------------------------
    def _start_cooldowns(self, symbols: list[str], now_ms: int) -> dict[str, int]:
        """Deny new entries in `symbols` for `options.forceexit_cooldown_ms` from `now_ms`,
        saved in the ledger (inside the caller's transaction). Returns symbol -> end, epoch
        ms."""
        if self.options.forceexit_cooldown_ms <= 0 or not symbols:
            return {}
        until = now_ms + self.options.forceexit_cooldown_ms
        for name in symbols:  # a second forceexit never shortens a running cool-down
            self.cooldowns[name] = max(self.cooldowns.get(name, 0), until)
        self.ledger.set_kv(COOLDOWNS_KV, dict(self.cooldowns))
        return {name: self.cooldowns[name] for name in symbols}

    def restore_cooldowns(self) -> None:
        """Take the cool-downs a previous run saved (restart)."""
        saved = self.ledger.get_kv(COOLDOWNS_KV) or {}
        self.cooldowns.update({str(s): int(until) for s, until in saved.items()})

    def cooling_down(self, ts_ms: int) -> dict[str, str]:
        """Symbol -> why its entries are denied at `ts_ms` (for the risk gate's `MarketView`);
        forgets (and saves) the cool-downs that have ended."""
        if not self.cooldowns:  # nearly every step: none running
            return {}
        ended = [s for s, until in self.cooldowns.items() if until <= ts_ms]
        for name in ended:
            del self.cooldowns[name]
        if ended:
            self.ledger.set_kv(COOLDOWNS_KV, dict(self.cooldowns))
        return {s: f"forced exit by the operator; no new entries until {utc_minute(until)} "
                   "(trading.forceexit_cooldown_minutes)"
                for s, until in self.cooldowns.items()}

    def run_force_exits(self, ts_ms: int) -> set[str]:
        """At a decision step: send the queued market sells whose cancels have taken effect.
        Returns the symbols under a forced exit (the policy does not act on them this step)."""
        busy = set(self.force_exits)
        if not busy:
            return busy
        resting = {o.symbol for o in self.broker.open_orders()}
        for symbol in sorted(self.force_exits):
            if symbol in resting:
                continue  # a cancel not yet applied: the coins are still locked; next step
            del self.force_exits[symbol]
            self._send_exit(symbol, ts_ms)
        return busy

    def _send_exit(self, symbol: str, ts_ms: int) -> None:
        instrument = self.instruments[symbol]
        position = self.positions.get(symbol)
        free = self.broker.free_balance(instrument.base)
        amount = instrument.amount(min(position.amount if position else Decimal(0), free))
        if amount <= 0:
            self.ledger.record_decision(ts_ms, symbol, "FORCE_EXIT", "SKIPPED",
                                        detail="nothing free to sell")
            return
        request = OrderRequest(self.broker.next_client_order_id(), symbol, Side.SELL,
                               OrderType.MARKET, amount, None, ts_ms)
        self.ledger.record(request)
        self.expect_execution(request)
        events = self.broker.submit(request)
        self._account_moves += 1  # an order sent (trading/trader.py)
        self._record(events)
        rejected = next((e for e in events if isinstance(e, Rejected)), None)
        verdict = f"REJECTED:{rejected.reason.value}" if rejected else "OPERATOR"
        detail = rejected.detail if rejected else f"market sell {amount} (operator forceexit)"
        self.ledger.record_decision(ts_ms, symbol, "FORCE_EXIT", verdict, detail=detail)
        if self.notifier is not None:
            self.notifier.emit(NoticeKind.TRADING_STATE, f"forced exit {symbol}: {detail}", ts_ms,
                               symbol=symbol, verdict=verdict)

    # --- notices -----------------------------------------------------------------------------
    def notify_transitions(self, events: Iterable[StateEvent]) -> None:
        """Publish trading-state changes; breaker trips under their own kind."""
        if self.notifier is None:
            return
        for event in events:
            kind = NoticeKind.BREAKER if event.cause in _BREAKER_CAUSES else NoticeKind.TRADING_STATE
            if event.from_mode is event.to_mode:
                text = event.reason  # a refused resume says why
            else:
                text = (f"trading {event.from_mode.value} -> {event.to_mode.value}: "
                        f"{event.reason}")
            self.notifier.emit(kind, text, event.ts_ms, from_mode=event.from_mode.value,
                               to_mode=event.to_mode.value, cause=event.cause.value)

    def notify_fill(self, fill: PartiallyFilled | Filled) -> None:
        """Log (when `options.log_fills`) and publish one fill (partial or final)."""
        if self.options.log_fills:
            log.info("%s", fill_line(fill, self.instruments.get(fill.symbol)))
        if self.notifier is None:
            return
        final = isinstance(fill, Filled)
        text = (f"{'filled' if final else 'partial fill'}: {fill.side.value} {fill.amount} "
                f"{fill.symbol} @ {fill.price} (fee {fill.fee})")
        self.notifier.emit(NoticeKind.FILL, text, fill.ts_event, symbol=fill.symbol,
                           side=fill.side.value, price=str(fill.price), amount=str(fill.amount),
                           fee=str(fill.fee), client_order_id=fill.client_order_id)


def fill_line(fill: PartiallyFilled | Filled, instrument: Instrument | None) -> str:
    """One readable line for the log: side, amount, symbol, price, fee, liquidity, order id;
    the amount on the lot grid, the price on the tick grid, the fee to the notional's
    precision (tick x lot), so a line never shows float noise or a made-up digit."""
    amount, price, fee = f"{fill.amount:f}", f"{fill.price:f}", f"{fill.fee:f}"
    if instrument is not None:
        tick = instrument.tick_at(fill.price)
        amount, price = grid_text(fill.amount, instrument.lot), grid_text(fill.price, tick)
        fee = grid_text(fill.fee, tick * instrument.lot)
    quote = f" {instrument.quote}" if instrument is not None else ""
    kind = "fill" if isinstance(fill, Filled) else "partial fill"
    return (f"{kind}: {fill.side.value} {amount} {fill.symbol} @ {price}{quote} fee {fee}{quote} "
            f"{fill.liquidity.value.lower()} order {fill.client_order_id}")


def utc_minute(epoch_ms: int) -> str:
    """`epoch_ms` as 'YYYY-MM-DD HH:MM UTC' for operator messages."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def cooldown_rows(cooldowns: Mapping[str, int]) -> list[dict[str, Any]]:
    """The cool-downs as plain data for `status`: symbol, end in epoch ms and in words."""
    return [{"symbol": s, "until_ms": until, "until": utc_minute(until)}
            for s, until in sorted(cooldowns.items())]
