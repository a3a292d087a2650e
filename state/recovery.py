"""Startup reconciliation: make the ledger agree with the broker before any new order.

A daemon killed at any instant leaves the ledger behind the exchange in a few known ways,
and this module closes each gap with the event that was missed:

* an order recorded as sent (`SUBMITTED`) that the exchange has -> `Accepted`, then its fills;
* an order recorded as sent that the exchange never received -> `Rejected` ("lost");
* fills that happened while we were down -> `PartiallyFilled` / `Filled`, keyed by the
  exchange's trade id, so nothing is counted twice;
* an order the exchange cancelled or expired meanwhile -> `Canceled` with what never filled.

What it cannot explain it refuses, with the reason and what to do: an open order or a fill
the ledger never issued, an order the ledger has open that the exchange does not know, a
holding of a traded coin the ledger has no position for, a balance off by more than the
tolerance. Refusing is the point: trading on a wrong position is how bots lose money.

The module is pure apart from the ledger writes: the broker's side arrives as one
`BrokerSnapshot` (built by an `AccountView`: `bot.app.reconcile` for ccxt, `PaperAccountView`
here for paper, where the broker is rebuilt from the ledger and the check is trivial).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from model.instruments import Instrument
from model.orders import (
    Accepted,
    Canceled,
    Filled,
    PartiallyFilled,
    Rejected,
    RejectReason,
)
from state.codec import BalanceSet, LedgerEvent
from state.ledger import Ledger
from state.records import OrderRow
from state.recovery_types import (
    CANCELED,
    EXPIRED,
    FILLED,
    OPEN,
    REJECTED,
    AccountView,
    BrokerOrder,
    BrokerSnapshot,
    BrokerTrade,
    Problem,
    ProblemKind,
    RecoveryPolicy,
    RecoveryRefused,
    RecoveryReport,
)

__all__ = ["CANCELED", "EXPIRED", "FILLED", "OPEN", "REJECTED", "AccountView", "BrokerOrder",
           "BrokerSnapshot", "BrokerTrade", "PaperAccountView", "Problem", "ProblemKind",
           "RecoveryPolicy", "RecoveryRefused", "RecoveryReport", "check_account",
           "explain_trades", "plan_orders", "reconcile"]

log = logging.getLogger(__name__)

ZERO = Decimal(0)
CLOSED_WITHOUT_FILL = (CANCELED, EXPIRED, REJECTED)
REPORT_KEY = "recovery_last"


@dataclass
class OrderPlan:
    """Output of `plan_orders`: events to record, and what they mean."""

    events: list[LedgerEvent] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    fills: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


# ----------------------------------------------------------------------------- pure planning

def plan_orders(open_rows: list[OrderRow], known_trade_ids: frozenset[str],
                ledger_status: Mapping[str, str], snapshot: BrokerSnapshot,
                now: int) -> OrderPlan:
    """The events that bring the ledger's open orders up to the exchange's word, and the
    problems nothing can explain; `now` stamps what we learn (ts_recv). Pure."""
    plan = OrderPlan()
    for row in open_rows:
        _plan_one(row, snapshot.orders.get(row.client_order_id),
                  snapshot.order_trades.get(row.client_order_id, ()), known_trade_ids, now, plan)
    ours = {row.client_order_id for row in open_rows}
    for order in snapshot.open_orders:
        status = ledger_status.get(order.client_order_id)
        if status is None:
            plan.problems.append(Problem(
                ProblemKind.UNKNOWN_ORDER, order.client_order_id,
                f"{order.side.value} {order.amount} {order.symbol} @ {order.price} is open on "
                "the exchange but this ledger never sent it; cancel it on the exchange (or "
                "point data_dir at the ledger that placed it) and start again"))
        elif order.client_order_id not in ours:
            plan.problems.append(Problem(
                ProblemKind.UNKNOWN_ORDER, order.client_order_id,
                f"the ledger has it {status} but the exchange still has it open; cancel it "
                "on the exchange and start again"))
    return plan


def explain_trades(trades: Iterable[BrokerTrade], known_trade_ids: frozenset[str],
                   ledger_status: Mapping[str, str], open_ids: set[str]) -> list[Problem]:
    """Problems for fills the ledger cannot own: trades of orders it never sent, or of
    orders it had already closed. Asked only when the balances disagree (it costs a trade
    query per symbol), to say *why* they do."""
    problems: list[Problem] = []
    for trade in trades:
        if trade.trade_id in known_trade_ids:
            continue
        cid = trade.client_order_id
        if cid is None or cid not in ledger_status:
            problems.append(Problem(
                ProblemKind.UNKNOWN_FILL, trade.trade_id,
                f"{trade.side.value} {trade.amount} {trade.symbol} @ {trade.price} (exchange "
                f"order {trade.exchange_order_id}) was not traded by this ledger; an account "
                "shared with another bot or manual trading cannot be reconciled: use a "
                "dedicated account (or sub-account)"))
        elif cid not in open_ids:
            problems.append(Problem(
                ProblemKind.LATE_FILL, trade.trade_id,
                f"a fill of {cid}, which the ledger has {ledger_status[cid]}; check the order "
                "on the exchange, then record or dismiss it by hand"))
    return problems


def _plan_one(row: OrderRow, order: BrokerOrder | None, trades: Iterable[BrokerTrade],
              known: frozenset[str], now: int, plan: OrderPlan) -> None:
    cid = row.client_order_id
    if order is None:
        if row.status == "SUBMITTED":
            plan.lost.append(cid)
            plan.events.append(Rejected(
                cid, row.symbol, RejectReason.UNKNOWN_ORDER,
                "lost: recorded as sent, but the exchange never received it (found at restart)",
                now, now))
        else:
            plan.problems.append(Problem(
                ProblemKind.ORDER_VANISHED, cid,
                f"the ledger has it {row.status} on {row.symbol} but the exchange does not know "
                "it; check the account on the exchange (another account or key?)"))
        return
    side = row.side or order.side
    amount = row.amount if row.amount is not None else order.amount
    if row.status == "SUBMITTED":
        plan.adopted.append(cid)
        otype = row.type or order.type
        plan.events.append(Accepted(cid, row.symbol, side, otype, amount, row.price,
                                    order.ts_event, now))
    filled = row.filled
    fresh = sorted((t for t in trades if t.trade_id not in known),
                   key=lambda t: (t.ts_event, t.trade_id))
    for trade in fresh:
        filled += trade.amount
        plan.fills.append(trade.trade_id)
        common = (cid, row.symbol, side, trade.trade_id, trade.price, trade.amount, trade.fee,
                  trade.liquidity)
        if filled >= amount:
            plan.events.append(Filled(*common, trade.ts_event, now))
        else:
            plan.events.append(PartiallyFilled(*common, amount - filled, trade.ts_event, now))
    if order.filled != filled:
        plan.problems.append(Problem(
            ProblemKind.FILLS_MISSING, cid,
            f"the exchange reports {order.filled} filled, the ledger and the visible trades "
            f"{filled}; wait a minute and start again (trades may not be listed yet)"))
        return
    if order.status in CLOSED_WITHOUT_FILL and filled < amount:
        plan.closed.append(cid)
        plan.events.append(Canceled(cid, row.symbol, amount - filled, order.updated_ts, now))


def check_account(ledger_totals: Mapping[str, Decimal], ledger_locked: Mapping[str, Decimal],
                  positions: Mapping[str, Decimal], exchange_totals: Mapping[str, Decimal],
                  instruments: Mapping[str, Instrument], quote_asset: str,
                  tolerance_pct: Decimal, now: int) -> tuple[list[BalanceSet], list[Problem]]:
    """Compare the quote asset and every traded coin: equal passes; within tolerance, the
    exchange's figure is adopted (a `BalanceSet` that keeps the ledger's locks); beyond it,
    a problem. Coins the daemon does not trade are not its business and are ignored."""
    base_symbol = {i.base: s for s, i in instruments.items()}
    fixes: list[BalanceSet] = []
    problems: list[Problem] = []
    for asset in sorted({quote_asset, *base_symbol}):
        ours = ledger_totals.get(asset, ZERO)
        theirs = exchange_totals.get(asset, ZERO)
        if ours == theirs:
            continue
        symbol = base_symbol.get(asset)
        held = positions.get(symbol, ZERO) if symbol else ZERO
        scale = max(abs(ours), abs(theirs))
        if abs(ours - theirs) <= scale * tolerance_pct / 100 and ours != 0:
            locked = ledger_locked.get(asset, ZERO)
            fixes.append(BalanceSet(asset, theirs - locked, locked, now, now))
        elif symbol is not None and held == 0 and ours == 0:
            problems.append(Problem(
                ProblemKind.UNKNOWN_POSITION, symbol,
                f"the exchange holds {theirs} {asset} but the ledger has no {symbol} position; "
                f"sell or move the {asset}, or trade from a clean account"))
        else:
            problems.append(Problem(
                ProblemKind.BALANCE_MISMATCH, asset,
                f"ledger {ours} vs exchange {theirs} (difference {theirs - ours}, tolerance "
                f"{tolerance_pct}%); find the deposit, withdrawal or trade that explains it"))
    return fixes, problems


# ----------------------------------------------------------------------------- the procedure

async def reconcile(ledger: Ledger, view: AccountView, instruments: Mapping[str, Instrument],
                    quote_asset: str, now_ms: int,
                    policy: RecoveryPolicy | None = None) -> RecoveryReport:
    """Bring the ledger up to the exchange's word, record what was done, and return the
    report (`report.ok` False: do not trade; `RecoveryRefused(report)` says why).

    Events the exchange vouches for are recorded even when other problems block trading:
    they are facts either way, and the next attempt then starts from them."""
    policy = policy or RecoveryPolicy()
    open_rows = ledger.open_orders()
    snapshot = await view.snapshot(open_rows)
    unseen = [r for r in open_rows if r.status == "SUBMITTED" and
              snapshot.orders.get(r.client_order_id) is None]
    if unseen and policy.lost_grace_s > 0:
        # A request sent just before the crash may still be on its way: look again once.
        await asyncio.sleep(policy.lost_grace_s)
        late = [await view.lookup(r) for r in unseen]
        if any(order is not None for order in late):
            snapshot = await view.snapshot(open_rows)
    status = {r["client_order_id"]: r["status"]
              for r in ledger.db.query("SELECT client_order_id, status FROM orders")}
    known = frozenset(r["trade_id"] for r in ledger.db.query("SELECT trade_id FROM fills"))
    plan = plan_orders(open_rows, known, status, snapshot, now_ms)
    traded = {s: i for s, i in instruments.items() if i.quote == quote_asset}
    with ledger.batch():  # the exchange's facts first: they stand whatever follows
        ledger.record_all(plan.events)
    balances = ledger.balances()
    fixes, problems = check_account(
        {b.asset: b.free + b.locked for b in balances}, {b.asset: b.locked for b in balances},
        {p.symbol: p.amount for p in ledger.positions()}, snapshot.balances, traded,
        quote_asset, policy.balance_tolerance_pct, now_ms)
    if problems:  # say why the balances disagree: look for fills that are not ours
        symbols = sorted({r["symbol"] for r in ledger.db.query(
            "SELECT DISTINCT symbol FROM orders")} & set(traded)
            | {s for s, i in traded.items() if snapshot.balances.get(i.base)})
        trades = await view.trades_since(symbols, _last_seen_ms(ledger))
        problems = explain_trades(trades, known | set(plan.fills), status,
                                  {r.client_order_id for r in open_rows}) + problems
    if plan.problems:  # a balance is only worth fixing when the orders agree
        fixes = []
    report = RecoveryReport(
        now_ms, len(plan.events) + len(fixes), tuple(plan.adopted), tuple(plan.lost),
        tuple(plan.fills), tuple(plan.closed), tuple(f.asset for f in fixes),
        tuple(plan.problems + problems))
    with ledger.batch():
        ledger.record_all(fixes)
        ledger.set_kv(REPORT_KEY, report.to_dict())
    _log(report)
    return report


def _last_seen_ms(ledger: Ledger) -> int:
    """Fills are checked from a minute before the newest one the ledger holds (or from the
    account's opening): earlier ones were reconciled at an earlier start."""
    row = next(iter(ledger.db.query("SELECT max(ts_event) AS ts FROM fills")), {"ts": None})
    if row["ts"] is not None:
        return int(row["ts"]) - 60_000
    opened = ledger.get_kv("account_opened")
    return int(opened) if opened is not None else 0


def _log(report: RecoveryReport) -> None:
    if report.events:
        log.info("reconciliation recorded %d event(s): %d adopted, %d lost, %d fills, "
                 "%d closed, balances set: %s", report.events, len(report.adopted),
                 len(report.lost), len(report.fills), len(report.closed),
                 ", ".join(report.balance_fixes) or "none")
    else:
        log.info("reconciliation: the ledger agrees with the exchange")
    if not report.ok:
        log.error("%s", report.explain())


# ----------------------------------------------------------------------------- paper

class PaperAccountView:
    """The paper broker's account *is* the ledger (it is rebuilt from it at start), so its
    snapshot is the ledger's own view: every open order except those still `SUBMITTED`,
    which the paper broker never saw (they become lost), and the ledger's balances."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def snapshot(self, open_orders: list[OrderRow]) -> BrokerSnapshot:
        orders = {row.client_order_id: self._mirror(row) for row in open_orders}
        listed = tuple(o for o in orders.values() if o is not None)
        totals = {b.asset: b.free + b.locked for b in self.ledger.balances()}
        return BrokerSnapshot(orders, {}, listed, totals, _max_ts(open_orders))

    async def trades_since(self, symbols: list[str], since_ms: int) -> list[BrokerTrade]:
        return []  # every paper fill is in the ledger by construction

    async def lookup(self, order: OrderRow) -> BrokerOrder | None:
        return self._mirror(order)

    @staticmethod
    def _mirror(row: OrderRow) -> BrokerOrder | None:
        if row.status == "SUBMITTED" or row.side is None or row.type is None \
                or row.amount is None:
            return None
        return BrokerOrder(row.client_order_id, row.client_order_id, row.symbol, row.side,
                           row.type, row.price, row.amount, row.filled, OPEN, row.created_ts,
                           row.updated_ts)


def _max_ts(rows: list[OrderRow]) -> int:
    return max((r.updated_ts for r in rows), default=0)
