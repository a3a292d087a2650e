"""What startup reconciliation talks about: the broker's side of an account, the problems
that block trading, and the report (`state.recovery` does the work).

Plain frozen data and one protocol, so the planning in `state.recovery` stays pure and the
adapters (`bot.app.reconcile` for ccxt) depend only on these shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol

from model import errors
from model.instruments import Side
from model.orders import Liquidity, OrderType
from state.records import OrderRow

OPEN, FILLED, CANCELED, EXPIRED, REJECTED = "OPEN", "FILLED", "CANCELED", "EXPIRED", "REJECTED"


class ProblemKind(Enum):
    """Why reconciliation refuses to let the daemon trade."""

    ORDER_VANISHED = "ORDER_VANISHED"  # open in the ledger, unknown to the exchange
    UNKNOWN_ORDER = "UNKNOWN_ORDER"  # open on the exchange, never issued by this ledger
    UNKNOWN_FILL = "UNKNOWN_FILL"  # a fill of an order this ledger never issued
    LATE_FILL = "LATE_FILL"  # a fill of an order the ledger already closed
    FILLS_MISSING = "FILLS_MISSING"  # the exchange reports more filled than trades we can see
    UNKNOWN_POSITION = "UNKNOWN_POSITION"  # a traded coin held with no ledger position
    BALANCE_MISMATCH = "BALANCE_MISMATCH"  # ledger and exchange differ beyond tolerance


@dataclass(frozen=True, slots=True)
class Problem:
    """One disagreement that blocks trading; `detail` says what and how to fix it."""

    kind: ProblemKind
    subject: str  # client order id, trade id, asset or symbol
    detail: str


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """An order as the exchange reports it (statuses normalized to OPEN, FILLED, CANCELED,
    EXPIRED, REJECTED)."""

    client_order_id: str
    exchange_id: str
    symbol: str
    side: Side
    type: OrderType
    price: Decimal | None
    amount: Decimal
    filled: Decimal
    status: str
    ts_event: int  # creation, exchange time
    updated_ts: int


@dataclass(frozen=True, slots=True)
class BrokerTrade:
    """One fill as the exchange reports it, already on the instrument's grid, fee in quote."""

    trade_id: str
    exchange_order_id: str
    client_order_id: str | None  # None when the view could not resolve the order
    symbol: str
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal
    liquidity: Liquidity
    ts_event: int


@dataclass(frozen=True, slots=True)
class BrokerSnapshot:
    """Everything reconciliation needs from the exchange, taken while the account was still
    (the view checks the balances did not move while it looked)."""

    orders: Mapping[str, BrokerOrder | None]  # the ledger's open orders by client id
    order_trades: Mapping[str, tuple[BrokerTrade, ...]]  # every trade of those orders
    open_orders: tuple[BrokerOrder, ...]  # everything open on the exchange
    balances: Mapping[str, Decimal]  # total (free + locked) per asset
    ts_recv: int


class AccountView(Protocol):
    """The broker's side of reconciliation (a ccxt exchange, or the paper ledger itself)."""

    async def snapshot(self, open_orders: list[OrderRow]) -> BrokerSnapshot:
        """Look up `open_orders` by client id (with their trades when the exchange has more
        filled than the ledger), list every open order, and read the balances."""
        ...

    async def trades_since(self, symbols: list[str], since_ms: int) -> list[BrokerTrade]:
        """The account's fills on `symbols` since `since_ms`, each with its client id."""
        ...

    async def lookup(self, order: OrderRow) -> BrokerOrder | None:
        """One order by client id (None when the exchange does not know it)."""
        ...


@dataclass(frozen=True, slots=True)
class RecoveryPolicy:
    """Tolerances of reconciliation (`[recovery]` in config.toml)."""

    balance_tolerance_pct: Decimal = Decimal("0.01")  # of the larger figure
    lost_grace_s: float = 2.0  # look an unseen sent order up again after this long


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What reconciliation found and wrote; `ok` is False when it refuses to trade."""

    ts_ms: int
    events: int
    adopted: tuple[str, ...]  # sent orders the exchange had: now Accepted
    lost: tuple[str, ...]  # sent orders the exchange never got: now Rejected
    fills: tuple[str, ...]  # trade ids recorded here
    closed: tuple[str, ...]  # orders closed while we were down: now Canceled
    balance_fixes: tuple[str, ...]  # assets set to the exchange's figure (within tolerance)
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def explain(self) -> str:
        """The refusal as an operator reads it: one line per problem, with the fix."""
        head = (f"reconciliation refused: {len(self.problems)} problem(s) between the ledger "
                "and the exchange; no order will be sent until they are fixed:")
        lines = [head]
        lines += [f"  {p.kind.value} {p.subject}: {p.detail}" for p in self.problems]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the ledger's kv and `--json` output."""
        return {"ts_ms": self.ts_ms, "ok": self.ok, "events": self.events,
                "adopted": list(self.adopted), "lost": list(self.lost),
                "fills": list(self.fills), "closed": list(self.closed),
                "balance_fixes": list(self.balance_fixes),
                "problems": [{"kind": p.kind.value, "subject": p.subject, "detail": p.detail}
                             for p in self.problems]}


class RecoveryRefused(errors.DataError, RuntimeError):
    """The ledger and the exchange disagree in a way reconciliation cannot explain. The
    message lists each problem and what to do; `report` has them as data."""

    def __init__(self, report: RecoveryReport) -> None:
        super().__init__(report.explain())
        self.report = report
