"""The trading half of a decision step: policy -> risk gate -> broker -> ledger.

One object, used unchanged by the daemon (paper) and by the backtester (replay): the engine
calls `on_bar` with each closed bar (the paper broker fills resting orders against it) and
`step` once per decision. Every state change is recorded in the ledger; every decision, also
a HOLD or a denial, gets a row in the decisions table with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from model.instruments import Instrument
from model.market import Bar, BarBatch
from model.orders import Canceled, Filled, OrderEvent, OrderRequest, PartiallyFilled, Rejected
from risk.gate import PortfolioView, RiskGate
from risk.limits import RiskLimits
from risk.state import QuietMemo, TradingMode, TradingState
from state.codec import BalanceSet
from state.ledger import Ledger
from strategies.features import FeatureBook
from strategies.policy import Policy
from strategies.ranking import RankedCoin
from strategies.slot_init import slot_setters
from trading.broker import Broker
from trading.decision_view import ViewBuilder
from trading.last_prices import LastPrices
from trading.operator import FailureLog, OperatorControls, TraderOptions
from trading.performance import RoundTrip
from trading.positions import Position
from trading.step_records import hold_values
from trading.trader_account import TraderAccount
from trading.trader_actions import TraderActions

if TYPE_CHECKING:
    from risk.anomaly import AnomalyDetector
    from trading.execution_monitor import ExecutionMonitor
    from trading.notices import Notifier

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StepOutcome:
    ts_ms: int
    equity: Decimal
    mode: TradingMode
    actions: int
    denials: int


class Trader(TraderAccount, TraderActions, OperatorControls):
    """Owns the broker, the positions, the trading state and the ledger writes.

    Built once, with everything it needs, by `bot.app.assembly.make_trader` (the daemon's
    and the backtest's one recipe); afterwards only trading itself changes its state."""

    def __init__(
        self,
        *,
        instruments: Mapping[str, Instrument],
        policy: Policy,
        broker: Broker,
        ledger: Ledger,
        limits: RiskLimits,
        quote_asset: str,
        options: TraderOptions | None = None,
        notifier: Notifier | None = None,
        anomaly: AnomalyDetector | None = None,
        order_failures: FailureLog | None = None,
        execution: ExecutionMonitor | None = None,
    ) -> None:
        """`notifier` publishes fills and state changes (the daemon's; None in a backtest),
        `anomaly` is the detector when `[anomaly]` is on (risk/anomaly.py),
        `order_failures` counts a live broker's refused orders for status, and `execution`
        records expected vs realized execution per order (the daemon's; None in a backtest,
        whose ledger and digest then hold no execution row)."""
        self.instruments = {s: i for s, i in instruments.items() if i.quote == quote_asset}
        self.policy = policy
        self.broker = broker
        self.ledger = ledger
        self.limits = limits
        self.quote_asset = quote_asset
        self.options = options or TraderOptions()  # a backtest's
        self.notifier = notifier
        self.anomaly = anomaly
        self.order_failures = order_failures
        self.execution = execution
        self.gate = RiskGate()
        self.positions: dict[str, Position] = {}
        self.last_price = LastPrices()  # bar closes convert to Decimal when read
        self.state: TradingState | None = None
        self.placed_ms: dict[str, int] = {}
        self.fills = 0
        self.fees_paid = Decimal(0)
        self.traded_notional = Decimal(0)
        self.round_trips: list[RoundTrip] = []
        self.exposed_steps = 0
        self.denials: dict[str, int] = {}
        self.last_denial: str = ""
        self.force_exits: dict[str, int] = {}  # operator forceexit queue (trading/operator.py)
        self.cooldowns: dict[str, int] = {}  # no entries after a forceexit (trading/operator.py)
        self._booked_cash: Decimal | None = None  # live: the ledger's quote balance (cash())
        # The account the gate weighs, kept across a step's denied actions (`_act`).
        self._step_portfolio: PortfolioView | None = None
        self._views = ViewBuilder()  # each step's DecisionView (trading/decision_view.py)
        # False: a step (or a minute's fills) inside the caller's open transaction joins it
        # without a savepoint of its own (`step` says when that is safe; a replay's choice).
        self.step_savepoints = True
        # Bumped by every booked batch of events and every order sent or cancelled: while it
        # stands still, cash, positions and their marks do too (none moves without an event
        # the trader records), so what was valued on it still holds (`_step`, `_save_cursor`).
        self._account_moves = 0
        self._exposed: tuple[int, bool] | None = None  # (_account_moves, anything held)
        self._cursor_counters: Any = None  # the broker counters last saved (one object)
        self._cursor_opened: tuple[int, dict[str, int]] | None = None  # (moves, open times)
        # (ledger.kv_epoch(), counters, open times, state) of the last save in a transaction
        self._cursor_saved: tuple[int, Any, Any, TradingState | None] | None = None
        self._breakers = QuietMemo()  # the trading state's `evaluate`, quiet calls remembered
        # (symbols, instruments) of the last bar batch whose symbols were all traded here
        self._all_traded: tuple[tuple[str, ...], dict[str, Instrument]] | None = None

    # --- start and restart ---------------------------------------------------------------------
    def open_account(self, balance: Decimal, ts_ms: int) -> bool:
        """Deposit the starting balance into a fresh ledger, or resume from an existing one.

        Returns True when it resumed: positions, open orders, id counters and the trading
        state then come from the ledger, and a paper broker's account restarts from it.
        """
        self._booked_cash = None  # reconciliation or the deposit below may have moved it
        if self.ledger.get_kv("account_opened") is None:
            with self.ledger.batch():  # a crash between the two would deposit twice
                self.ledger.record(BalanceSet(self.quote_asset, balance, Decimal(0), ts_ms, ts_ms))
                self.ledger.set_kv("account_opened", ts_ms)
            return False
        self._resume()
        return True

    def _resume(self) -> None:
        self._account_moves += 1  # positions and balances come from the ledger
        self.broker.restore_balances({b.asset: b.free + b.locked for b in self.ledger.balances()})
        opened = self.ledger.get_kv("position_opened_ms", {})
        for row in self.ledger.positions():
            if row.amount != 0:
                self.positions[row.symbol] = Position(row.amount, row.avg_price, row.realized_pnl,
                                                      int(opened.get(row.symbol, row.updated_ts)))
                self.last_price[row.symbol] = row.avg_price
        for row in self.ledger.open_orders():
            if row.side is None or row.type is None or row.amount is None:
                continue
            request = OrderRequest(row.client_order_id, row.symbol, row.side, row.type,
                                   row.amount, row.price, row.created_ts)
            if not self.broker.restore_open_order(request, row.amount - row.filled,
                                                  acknowledged=row.status != "SUBMITTED"):
                # Sent but never acknowledged before the stop, and the broker never saw it
                # (paper; a live broker looks the order up on the exchange by client id).
                log.warning("order %s was never acknowledged; it is not restored", row.client_order_id)
        self._restore_counters()
        self.restore_cooldowns()
        saved_state = self.ledger.get_kv("trading_state")
        if saved_state is not None:
            self.state = TradingState.from_dict(saved_state)
        log.info("resumed from %s: %d positions, %d open orders", self.ledger.path,
                 sum(1 for p in self.positions.values() if p.amount), len(self.broker.open_orders()))

    def _restore_counters(self) -> None:
        """Resume the broker's id counters from the saved cursor, but never behind an id the
        ledger holds: an older Entasis saved the cursor apart from the fills, and a kill
        between the two left it behind them, so every restart issued a booked trade id again
        and died on the ledger's UNIQUE constraint."""
        saved = tuple(int(n) for n in self.ledger.get_kv("broker_counters", [0, 0]))
        stems = self.broker.resumable_id_stems()
        booked = self.ledger.highest_id_numbers(*stems) if stems is not None else (0, 0)
        if booked[0] > saved[0] or booked[1] > saved[1]:
            log.warning("saved broker counters (order %d, trade %d) are behind the ledger's ids "
                        "(order %d, trade %d): numbering resumes after the ledger's", *saved, *booked)
        self.broker.restore_counters(max(saved[0], booked[0]), max(saved[1], booked[1]))

    def _save_cursor(self) -> None:
        """Id counters, position open times and trading state, in the caller's transaction;
        a value the ledger knows it already holds is not written again (nothing else writes
        these keys), and each value is encoded once per object: the trading state is frozen
        (the same object on a quiet step), the counters are kept while equal, and the
        position open times are rebuilt only when the account moved (only a fill moves them)
        and kept as the object saved before when they came out the same.
        When the very objects saved last are saved again at the ledger's same kv epoch (no
        kv text it knows has changed since: `Ledger.kv_epoch`), the three saves would write
        nothing, and are not made (a replay's quiet minutes)."""
        counters = self.broker.counters()
        if counters != self._cursor_counters:
            self._cursor_counters = counters
        opened = self._cursor_opened
        if opened is None or opened[0] != self._account_moves:
            times = {s: p.opened_ms for s, p in self.positions.items() if p.amount}
            if opened is not None and times == opened[1]:
                # An order sent or a fill that opened or closed nothing: the same times (the
                # same text: its keys are sorted), kept as the object whose text is known.
                times = opened[1]
            opened = self._cursor_opened = (self._account_moves, times)
        times = opened[1]
        ledger = self.ledger
        saved = self._cursor_saved
        if (saved is not None and saved[1] is self._cursor_counters and saved[2] is times
                and saved[3] is self.state and saved[0] == ledger.kv_epoch()):
            return
        ledger.set_kv_made_from("broker_counters", self._cursor_counters, list)
        ledger.set_kv_made_from("position_opened_ms", times, dict)
        if self.state is not None:
            ledger.set_kv_made_from("trading_state", self.state, TradingState.to_dict)
        epoch = ledger.kv_epoch()
        self._cursor_saved = (None if epoch is None
                              else (epoch, self._cursor_counters, times, self.state))

    # --- market events -----------------------------------------------------------------------
    def on_bar(self, bar: Bar) -> None:
        """Fill resting orders against a closed bar, then mark the symbol at its close."""
        self.on_bars([bar])

    def on_bars(self, bars: list[Bar] | BarBatch) -> None:
        """`on_bar` for many bars at once (one fill-model call for the whole minute). The
        fills and the cursor (id counters, position open times) commit together: a fill
        booked without its counter would have its trade id issued again after a crash.
        A replay's BarBatch of traded symbols goes to the broker as it is (columns, no Bar
        objects); the same effects as its Bars."""
        instruments = self.instruments
        mine: list[Bar] | BarBatch
        if isinstance(bars, BarBatch):
            known = self._all_traded  # a replay's minutes bring the same symbols' tuple
            if known is not None and known[0] is bars.symbols and known[1] is instruments:
                mine = bars
            else:
                traded = [symbol in instruments for symbol in bars.symbols]
                mine = bars if all(traded) else bars.select(np.array(traded, dtype=bool))
                if mine is bars:
                    self._all_traded = (bars.symbols, instruments)
        else:
            mine = [bar for bar in bars if bar.symbol in instruments]
        events = self.broker.on_bars(mine)
        if events:  # no transaction for a quiet minute: replays stay one commit per step
            # Always its own savepoint in a replay's hour too (unlike `step`): the engine
            # retries a failed minute of fills symbol by symbol and goes on
            # (Engine._guarded), so a failed attempt's writes must be undone here.
            with self.ledger.batch():
                self._record(events)
                self._save_cursor()
        if isinstance(mine, BarBatch):
            self.last_price.set_closes(mine.symbols, mine.close.tolist())
        else:
            self.last_price.set_closes([bar.symbol for bar in mine], [bar.close for bar in mine])

    # --- decision step -------------------------------------------------------------------------
    def step(self, ts_ms: int, book: FeatureBook, ranking: tuple[RankedCoin, ...],
             features: np.ndarray | None = None) -> StepOutcome:
        """One decision at `ts_ms` on what `book` and `ranking` know (nothing later). Its
        ledger writes (orders, decisions, equity, cursor) commit together or not at all.

        Inside a caller's open transaction that is a savepoint, unless the caller turned
        `step_savepoints` off: then the step's writes join that transaction as they are,
        and an error leaves them to the caller's rollback. Only for a caller that ends its
        transaction with a failed step, as a replay does (bot/research/backtest.py: the
        error goes up through its batch, which rolls the open hour back, and the backtest
        fails; it is rerun, never resumed): a savepoint would undo what that rollback undoes
        anyway. The daemon keeps them on, and outside a transaction a step is its own."""
        if self.step_savepoints or not self.ledger.in_transaction:
            with self.ledger.batch():
                return self._step(ts_ms, book, ranking,
                                  book.matrix() if features is None else features)
        return self._step(ts_ms, book, ranking, book.matrix() if features is None else features)

    def _step(self, ts_ms: int, book: FeatureBook, ranking: tuple[RankedCoin, ...],
              features: np.ndarray) -> StepOutcome:
        closed = self.broker.close_market_until(ts_ms)  # the minute before ts_ms closed
        if closed or self.execution is not None:  # (it records nothing else)
            self._record(closed)
        moves = self._account_moves
        cash = self.cash()
        equity = self._equity_with(cash)  # `equity()`, its cash kept for the snapshot
        if self.state is None:
            self.state = TradingState.initial(equity, ts_ms)
        reading = self.anomaly.observe_book(book, ts_ms) if self.anomaly is not None else None
        self.state, transitions = self._breakers.evaluate(
            self.state, equity, ts_ms, False, self.limits,
            anomaly_reduce=reading is not None and reading.market_alarm)
        if transitions:
            for change in transitions:
                log.warning("trading state %s -> %s: %s", change.from_mode.value,
                            change.to_mode.value, change.reason)
            self.notify_transitions(transitions)
        if self.execution is not None:
            self.execution.see_market(book, features)
        forced = self.run_force_exits(ts_ms)
        view = self._views.view(
            ts_ms, book, ranking, features, instruments=self.instruments,
            quote_asset=self.quote_asset, equity=equity, positions=self.positions,
            broker=self.broker,
            mode=_MODE_TEXT[self.state.mode] if self.state is not None else "ACTIVE",
            moves=self._account_moves)
        anomalous = reading.denials() if reading is not None else {}
        cooling_down = self.cooling_down(ts_ms)  # every step: it also forgets ended cool-downs
        denials = 0
        instruments = self.instruments
        decided = self.policy.decide(view)
        holds = None
        if not forced and view.ranking is ranking and self.anomaly is None:
            # Every coin of `ranking` is tradable here (the view ranks it whole only then)
            # and none is forced out: when all actions are HOLDs of ranked coins, none is
            # filtered below, and the list is taken as it is (most steps).
            holds = hold_values(ts_ms, decided, ranking)
        if holds is not None:
            actions = decided
        else:
            actions = [a for a in decided if a.symbol in instruments and a.symbol not in forced]
            holds = None if self.anomaly is not None else hold_values(ts_ms, actions, ranking)
        if holds is not None:  # only HOLDs (most steps): the gate weighs nothing
            self.ledger.record_holds(holds)
        else:
            scores = {coin.symbol: coin for coin in ranking}
            denials = self._decide(ts_ms, book, actions, scores, anomalous, cooling_down, equity)
        if self._account_moves != moves:  # else cash and equity are what they were
            cash = self.cash()
            equity = self._equity_with(cash)  # one cash() for both: equity() would ask again
        exposed = self._exposed
        if exposed is None or exposed[0] != self._account_moves:
            exposed = self._exposed = (self._account_moves,
                                       any(p.amount > 0 for p in self.positions.values()))
        self.exposed_steps += exposed[1]
        self.ledger.snapshot_equity(ts_ms, equity=equity, cash=cash, positions_value=equity - cash)
        self._save_cursor()
        return step_outcome(ts_ms, equity, self.state.mode, len(actions), denials)

    # --- bookkeeping -------------------------------------------------------------------------------
    def on_order_events(self, events: list[OrderEvent]) -> None:
        """Record what a live broker reports between decision steps (acks, fills, cancels),
        with the cursor, in one ledger transaction."""
        with self.ledger.batch():
            self._record(events)
            self._save_cursor()

    def _record(self, events: list[OrderEvent]) -> None:
        if events:
            self._account_moves += 1  # cash, positions or their marks may move
        for event in events:
            self.ledger.record(event)
            if isinstance(event, (PartiallyFilled, Filled)):
                self._apply_fill(event)
            elif isinstance(event, Rejected):
                log.info("order %s rejected: %s", event.client_order_id, event.detail)
            if isinstance(event, (Filled, Canceled, Rejected)):
                self.placed_ms.pop(event.client_order_id, None)
        if self.execution is not None:
            self.execution.on_events(events)  # after the fills are booked: it reads them
        if events and self.broker.balances_run_ahead:
            self._booked_cash = self._ledger_cash()  # moved by the same events as positions

    def expect_execution(self, request: OrderRequest) -> None:
        """Record what the fill model expects of `request` (daemon only), in the ledger
        transaction of the order itself."""
        if self.execution is not None:
            self.execution.on_submit(request)

    def _apply_fill(self, fill: PartiallyFilled | Filled) -> None:
        self.fills += 1
        self.notify_fill(fill)
        self.fees_paid += fill.fee
        self.traded_notional += fill.price * fill.amount
        position = self.positions.setdefault(fill.symbol, Position())
        closed = position.book(fill.symbol, fill.side, fill.price, fill.amount, fill.fee,
                               fill.ts_event)
        if closed is not None:
            self.round_trips.append(closed)
        self.last_price.setdefault(fill.symbol, fill.price)


_new_object = object.__new__
_set_ts_ms, _set_equity, _set_mode, _set_actions, _set_denials = slot_setters(StepOutcome)


def step_outcome(ts_ms: int, equity: Decimal, mode: TradingMode, actions: int,
                 denials: int) -> StepOutcome:
    """`StepOutcome(...)`, written slot by slot (strategies/slot_init.py): one a decision
    step, whose frozen `__init__` writing five fields through `object.__setattr__` costs
    about twice as much."""
    outcome = _new_object(StepOutcome)
    _set_ts_ms(outcome, ts_ms)
    _set_equity(outcome, equity)
    _set_mode(outcome, mode)
    _set_actions(outcome, actions)
    _set_denials(outcome, denials)
    return outcome


#: Each trading mode's text (`TradingMode.value`, read once: the enum's property is slow).
_MODE_TEXT: dict[TradingMode, str] = {mode: mode.value for mode in TradingMode}
