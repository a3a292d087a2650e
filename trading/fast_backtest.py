"""The fast research backtester: the engine's trading rules over whole arrays of bars.

`run_fast(grid, policy, settings, start_row=..., balance=...)` trades rows
[start_row, stop_row) of a `BarGrid` (rows before start_row are warm-up: signals and the
risk gate's return history may read them). Like the engine (trading/engine.py,
trading/trader.py), at every decision step, i.e. every row in which at least one symbol
has a bar:

1. the open orders of the symbols with a bar meet it through the one fill model
   (`model.fills.match`), and are booked as the paper broker books them
   (trading/fast_account.py); each traded symbol's last price becomes its close;
2. at the row's close the trading state (breakers) is evaluated on the equity, the policy
   decides, and each entry is sized and checked by the same `RiskGate` with the same
   portfolio and return history the trader gives it, exact `Decimal` included;
3. equity is marked at the close: cash plus positions at their last price.

What makes it fast: a step where no order is open and the policy will not act
(`BatchPolicy.next_step`) changes nothing but the marks and the breaker baselines, so the
loop jumps over such runs of steps and marks them in one compiled pass (trading/fast_kernel);
the breaker state is carried over them in bulk unless a breaker could fire in them
(trading/fast_breakers.py).

The SMA policy's run goes through a compiled lane instead where it applies
(trading/sma_lane.py: the same steps in one numba call on integer ticks, lots and quote
units; the Python loop here is its reference and its fallback, `FastRun.lane` says which).

Quotes and costs: the policy's bid and ask come from `FastMarket` (the replay's synthesized
ticks when built by bot/research/fast_backtest.py, else close and close + the spread), and
a bar's book is priced at each symbol's spread (`FastMarket.spread`; built here, with
`FastSettings.spread` "estimated", from the rows before `start_row`, else one tick). Bars of any
length work: the fill model sees a bar as a path from open to close, and the risk gate's
return history has `return_history_bars` bars of `bar_ms` each.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np

from model.instruments import Side, dominant_quote
from model.orders import OrderRequest, OrderType
from risk.gate import (
    Approved,
    CancelIntent,
    Denied,
    EntryIntent,
    ExitIntent,
    MarketView,
    PortfolioView,
    RiskGate,
    mode_denial,
)
from risk.state import TradingMode, TradingState
from risk.var import ReturnHistory
from strategies.features_batch import MinuteGrid
from strategies.policy import Action, Holding, PolicyAction, RestingOrder
from trading.fast_account import FastAccount
from trading.fast_breakers import BreakerCarry
from trading.fast_collector import collector_paused
from trading.fast_history import ReturnsView
from trading.fast_market import (
    DAY_MS,
    RETURN_HISTORY_BARS,
    ConfigLike,
    FastMarket,
    FastSettings,
    generic_instrument,
    spreads_before,
)
from trading.fast_policies import (
    NEVER,
    BatchPolicy,
    BatchView,
    SmaBatch,
    StepQuotes,
    forward_filled,
)
from trading.fast_result import LoopResult
from trading.fast_run import FastRun
from trading.sma_lane import run_sma

_ACTION_NAMES = {action: action.value for action in Action}  # the ledger's action column
_BUY, _SELL, _HOLD = Action.BUY, Action.SELL, Action.HOLD  # once: an Enum member lookup costs

#: Runs of skipped steps up to this long are carried step by step in scalars (the same
#: figures as the bulk pass, whose array set-up costs more than a few steps).
_SCALAR_CARRY_STEPS = 8


def run_fast(grid: MinuteGrid, policy: BatchPolicy, settings: FastSettings, *, start_row: int,
             stop_row: int | None = None, balance: float | Decimal,
             market: FastMarket | None = None, quote_asset: str | None = None,
             compiled: bool = True) -> FastRun:
    """Trade rows [start_row, stop_row) of `grid` with `policy`; see the module docstring.
    `compiled`: let the SMA policy's run go through the compiled lane where it applies
    (trading/sma_lane.py; False: the Python loop, the lane's reference)."""
    if market is None:
        market = FastMarket.from_grid(grid, spread=spreads_before(grid, start_row)
                                      if settings.spread == "estimated" else None)
    length = grid.close.shape[0]
    stop = length if stop_row is None else min(stop_row, length)
    if not 0 <= start_row <= stop:
        raise ValueError(f"start_row {start_row} outside the grid's rows 0..{stop}")
    if settings.bar_ms != grid.bar_ms:  # else the VaR horizon scaling reads the wrong period
        raise ValueError(f"settings are for {settings.bar_ms} ms bars, the grid has "
                         f"{grid.bar_ms} ms bars: FastSettings.from_config(config, grid.bar_ms)")
    quote = quote_asset or dominant_quote(market.instruments)
    has_bar = np.isfinite(grid.close)
    rows = start_row + np.flatnonzero(has_bar[start_row:stop].any(axis=1)).astype(np.int64)
    bar_ms = settings.bar_ms
    step_ms = grid.start_ms + (rows + 1) * bar_ms
    close_ff = forward_filled(grid.close)
    # The book's bid and ask come from ticks, and the warm-up history brings none.
    traded = rows - start_row
    quotes = StepQuotes(rows, step_ms, close_ff[rows],
                        forward_filled(market.bid[start_row:stop])[traded],
                        forward_filled(market.ask[start_row:stop])[traded])
    policy.prepare(grid, quotes)
    deposit = Decimal(str(balance))

    def python_loop() -> FastRun:
        loop = _Loop(grid, market, settings, quote, deposit, close_ff, has_bar)
        with collector_paused():
            loop.run(policy, quotes)
        return loop.result(quotes)

    if compiled and isinstance(policy, SmaBatch):
        return run_sma(grid, market, settings, quote, deposit, close_ff, has_bar, quotes, policy,
                       python_loop)
    return python_loop()


class _Loop(BreakerCarry, ReturnsView, LoopResult):
    """The decision steps of one run (state that lives from step to step)."""

    def __init__(self, grid: MinuteGrid, market: FastMarket, settings: FastSettings,
                 quote: str, balance: Decimal, close_ff: np.ndarray, has_bar: np.ndarray):
        self.grid, self.market, self.settings = grid, market, settings
        self.close_ff, self.has_bar = close_ff, has_bar
        tradable = {i.symbol: i for i in market.instruments if i.quote == quote}
        if not tradable:
            raise ValueError(f"no grid symbol is quoted in {quote}")
        self.tradable_mask = np.array([i.quote == quote for i in market.instruments])
        columns = {s: c for c, s in enumerate(grid.symbols)}
        self.account = FastAccount(tradable, columns, quote, balance, settings.fill_params,
                                   spreads=market.spread)
        self.gate = RiskGate()
        self.state: TradingState | None = None
        self.first_bar = np.where(has_bar.any(axis=0), has_bar.argmax(axis=0), len(has_bar))
        self._all_started = int(self.first_bar.max())  # every symbol has a bar after this row
        self.start_equity = balance
        # (step, cash, amounts [n]) from which the marks are constant in holdings
        self.changes: list[tuple[int, float, np.ndarray]] = []
        self.decisions: list[tuple[int, str, str, str, str, Any]] = []
        self.evaluated = -1  # last step the breaker state has seen
        self._simple_returns: np.ndarray | None = None
        self._returns_finite = False  # every one of _simple_returns is finite
        # what an exit, a cancel or an entry the mode denies reads of the market (frozen, so
        # one for the run): the instruments, no history
        self._plain_market = MarketView(self.account.instruments, ReturnHistory(
            (), np.zeros((0, 0)), settings.bar_ms / DAY_MS))
        self._history: tuple[int, MarketView] | None = None  # (row, view) of this step
        # (amounts of the last change, first step, float equity of the steps from it)
        self._marks: tuple[np.ndarray, int, list[float]] | None = None
        limits, margin = settings.limits, 1e-6  # a float margin: the Decimal figures agree
        # (daily loss, drawdown) levels, in %, that move the mode: [ACTIVE, REDUCING]
        self._levels = ((float(limits.daily_loss_reduce_pct) - margin,
                         float(limits.drawdown_reduce_pct) - margin),
                        (float(limits.daily_loss_halt_pct) - margin,
                         float(limits.drawdown_halt_pct) - margin))
        self._portfolio: PortfolioView | None = None  # the account as the gate sees it now
        self._step_equity: Decimal | None = None  # the acting step's Trader.equity, once known
        # (state, {entry: its mode denial}) of the newest state an action met
        self._denials: tuple[TradingState | None, dict[bool, tuple[str, str] | None]] = (None, {})

    # --- the loop ------------------------------------------------------------------------
    def run(self, policy: BatchPolicy, quotes: StepQuotes) -> None:
        steps = len(quotes.rows)
        n = len(self.grid.symbols)
        self.changes.append((0, float(self.account.cash()), np.zeros(n)))
        if steps:  # the trader's first step starts the breakers at the starting balance
            self.state = TradingState.initial(self.account.equity(), int(quotes.ts_ms[0]))
        account = self.account
        rows, times = quotes.rows.tolist(), quotes.ts_ms.tolist()  # once: no numpy scalars
        self._times, self._rows = times, rows
        # the policy's actions at the steps of a stretch where no order is open
        actions_when_idle = getattr(policy, "actions_when_idle", None)
        k = 0
        while k < steps:
            # `next_step` is the first acting step >= its argument, so asked again at the
            # step it named it names it again: a jump lands on an acting step.
            jumped = not account.orders
            if jumped:
                k = min(policy.next_step(k), steps)
                if k >= steps:
                    break
                if actions_when_idle is not None:
                    stop = self._denied_until(k, account.held_any(n))
                    found = (actions_when_idle(k, stop, self.tradable_mask, account.held(n))
                             if stop > k else None)
                    if found is not None:  # every action of the stretch is denied, in bulk
                        self._deny_all(found, stop, quotes)
                        k = stop
                        continue
            row = rows[k]
            ts = times[k]
            skipped = k - self.evaluated - 1  # steps jumped over, on the holdings before k
            if 0 < skipped <= _SCALAR_CARRY_STEPS:
                self._carry_run(self.evaluated + 1, k, quotes)
            elif skipped > 0:
                self._carry(np.arange(self.evaluated + 1, k), quotes, None)
            if account.orders:
                filled = len(account.fills)
                self._match(row)
                if len(account.fills) != filled:
                    self.changes.append((k, float(account.cash()), account.amounts(n)))
            acts = jumped or policy.next_step(k) == k
            self._step_equity, self._portfolio = None, None  # this step's, once known
            self._carry_step(k, quotes, row if acts else None)
            if acts:
                view = BatchView(k, ts, self.grid.symbols, self.tradable_mask,
                                 quotes.last[k], quotes.bid[k], quotes.ask[k],
                                 _StepAccount(self, row, n))
                # What the view would read on first use, set where it costs less than the
                # lazy read: the held mask is kept between fills, no order is often open.
                view.held = account.held(n)
                if not account.orders:
                    view.open_orders = ()
                for action in policy.decide(view):
                    if action.symbol in self.account.instruments:
                        self._act(action, ts, row)
            k += 1

    def _deny_all(self, found: tuple[list[int], list[int], list[bool]], stop: int,
                  quotes: StepQuotes) -> None:
        """A `_denied_until` stretch up to `stop`: the policy's actions there, (steps,
        columns, is a BUY), each denied on the mode alone as `_act` denies it, and the
        breaker state carried over it."""
        tails: dict[bool, tuple[str, str, str, None]] = {}  # (action, verdict, detail, None)
        for entry in set(found[2]):
            denied = self._mode_denial(entry)
            assert denied is not None  # the stretch's mode denies what the policy does there
            tails[entry] = (_ACTION_NAMES[_BUY if entry else _SELL], *denied, None)
        times, symbols = self._times, self.grid.symbols
        self.decisions.extend([(times[k], symbols[column], *tails[entry])
                               for k, column, entry in zip(*found)])
        self._carry_flat(stop, quotes)

    def _match(self, row: int) -> None:
        grid, market = self.grid, self.market
        open_ms = grid.start_ms + row * self.settings.bar_ms
        self.account.match_bars(open_ms, open_ms + self.settings.bar_ms - 1, self.has_bar[row],
                                grid.open[row], grid.high[row], grid.low[row], grid.close[row],
                                market.volume[row])

    def _equity(self, row: int) -> Decimal:
        """Trader.equity at this step: held symbols at their newest close (the trader's
        last price: every bar since the fill sets it, and the fill's own bar last).
        Computed once per acting step, when first needed, always before the step's first
        action: the trader computes it once, before its actions, and all of them see it."""
        if self._step_equity is not None:
            return self._step_equity
        account = self.account
        closes: list[float] | None = None  # the row's closes as floats, read once
        for symbol, position in account.positions.items():
            if position.amount > 0:
                if closes is None:
                    closes = self.close_ff[row].tolist()
                account.last_price[symbol] = Decimal(repr(closes[account.columns[symbol]]))
        self._step_equity = account.equity()
        return self._step_equity

    def _open_slots(self, equity: Decimal) -> int:
        """Positions the gate would still let open (max_open_positions less the symbols
        held or being bought, dust not counted), as the gate counts them."""
        portfolio = self.account.portfolio(equity)
        self._portfolio = portfolio  # the step's actions see it until one changes the account
        used = len(portfolio.open_symbols(self.account.instruments))
        return self.settings.limits.max_open_positions - used

    # --- one action (Trader._act) ---------------------------------------------------------
    def _act(self, action: PolicyAction, ts: int, row: int) -> None:
        kind = action.action
        if kind is _HOLD:
            return
        assert self.state is not None  # run() starts it before the first step
        if kind is _BUY or kind is _SELL:
            # The gate's first verdict, on the mode alone: no figure needs building for it.
            denied = self._mode_denial(kind is _BUY)
            if denied is not None:
                self.decisions.append((ts, action.symbol, _ACTION_NAMES[kind], *denied, None))
                return
        account = self.account
        equity = self._equity(row)
        instrument = account.instruments[action.symbol]
        intent: EntryIntent | ExitIntent | CancelIntent
        if action.action in (Action.CANCEL_BUY, Action.CANCEL_SELL):
            intent = CancelIntent(action.symbol, action.client_order_id or "")
        elif action.action is Action.BUY:
            assert action.limit_price is not None and action.stop_price is not None
            intent = EntryIntent(action.symbol, Side.BUY,
                                 instrument.price(action.limit_price, Side.BUY),
                                 Decimal(repr(action.stop_price)), action.confidence)
        else:
            assert action.limit_price is not None
            intent = ExitIntent(action.symbol, instrument.price(action.limit_price, Side.SELL))
        assert self.state is not None  # run() starts it before the first step
        # Only an entry in ACTIVE mode reads the return history (post-trade VaR/ES): the gate
        # denies an entry in REDUCING or HALTED on the mode alone, and exits and cancels get
        # the instruments alone, which spares building it.
        reads_history = (isinstance(intent, EntryIntent)
                         and self.state.mode is TradingMode.ACTIVE)
        market = (self._market_view(row) if reads_history
                  else self._plain_market)
        if self._portfolio is None:
            self._portfolio = account.portfolio(equity)
        portfolio = self._portfolio
        verdict = self.gate.check(intent, portfolio, market, self.settings.limits,
                                  self.state, figures=False)  # reads amount, price, sizing
        if isinstance(verdict, Denied):
            self.decisions.append((ts, action.symbol, action.action.value,
                                   f"DENIED:{verdict.reason.value}", verdict.detail, None))
            return
        assert isinstance(verdict, Approved)
        self._portfolio = None  # an approved action changes the account
        if isinstance(intent, CancelIntent):
            account.cancel(intent.client_order_id, ts)
            self.decisions.append((ts, action.symbol, action.action.value, "APPROVED",
                                   action.reason, None))
            return
        side = Side.BUY if action.action is Action.BUY else Side.SELL
        account.submit(OrderRequest(account.next_client_order_id(), action.symbol, side,
                                    OrderType.LIMIT, verdict.amount, verdict.price, ts))
        # The Sizing itself: its one-line breakdown is formatted only if a ledger is written.
        self.decisions.append((ts, action.symbol, action.action.value, "APPROVED",
                               action.reason, verdict.sizing))

    def _mode_denial(self, entry: bool) -> tuple[str, str] | None:
        """`mode_denial`'s (verdict, detail) for an entry or an exit in the current state,
        or None: the same for every action until the state changes, so made once per
        state (most of a halted stretch's actions are denied on the mode alone)."""
        state = self.state
        assert state is not None  # run() starts it before the first step
        if self._denials[0] is not state:
            self._denials = (state, {})
        known = self._denials[1]
        if entry not in known:
            denied = mode_denial(state, entry=entry)
            known[entry] = None if denied is None else (f"DENIED:{denied.reason.value}",
                                                        denied.detail)
        return known[entry]


class _StepAccount:
    """The account as one acting step's `BatchView` reads it (see `AccountReader`)."""

    __slots__ = ("_loop", "_n", "_row")

    def __init__(self, loop: _Loop, row: int, n: int):
        self._loop, self._row, self._n = loop, row, n

    def held(self) -> np.ndarray:
        return self._loop.account.held(self._n)

    def open_orders(self) -> tuple[RestingOrder, ...]:
        return self._loop.account.resting()

    def open_slots(self) -> int:
        return self._loop._open_slots(self._loop._equity(self._row))

    def holdings(self) -> Mapping[str, Holding]:
        return self._loop.account.holdings()


__all__ = ["NEVER", "RETURN_HISTORY_BARS", "ConfigLike", "FastMarket", "FastRun",
           "FastSettings", "generic_instrument", "run_fast", "spreads_before"]
