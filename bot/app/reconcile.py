"""Reconciliation at daemon start: make the ledger agree with the account before trading.

`state.recovery` decides what the ledger lacks. A paper daemon's account is its own ledger
(`PaperAccountView`); a live one's is the exchange, read through ccxt by
`bot.app.ccxt_account.CcxtAccountView`, imported only then, so paper mode never loads ccxt.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from model.instruments import Instrument
from state.ledger import Ledger
from state.recovery import (
    PaperAccountView,
    RecoveryPolicy,
    RecoveryRefused,
    RecoveryReport,
    reconcile,
)

if TYPE_CHECKING:
    from exchange.brokers.ccxt_client import RequestGate


async def reconcile_at_start(ledger: Ledger, instruments: Mapping[str, Instrument],
                             quote_asset: str, now_ms: int, *, exchange: Any | None = None,
                             tolerance_pct: float = 0.01, lost_grace_s: float = 2.0,
                             gate: RequestGate | None = None) -> RecoveryReport:
    """Reconcile before the first decision: against the exchange (live: pass the ccxt
    `exchange`) or the paper ledger itself. Raises `RecoveryRefused` (the message lists
    every problem and its fix) when the daemon must not trade."""
    if ledger.get_kv("account_opened") is None:  # a fresh ledger: nothing to reconcile yet
        return RecoveryReport(now_ms, 0, (), (), (), (), (), ())
    if exchange is None:
        view: Any = PaperAccountView(ledger)
        policy = RecoveryPolicy(Decimal(str(tolerance_pct)), 0.0)
    else:
        from bot.app.ccxt_account import CcxtAccountView  # live only: ccxt's import is heavy

        view = CcxtAccountView(exchange, instruments, gate=gate)
        policy = RecoveryPolicy(Decimal(str(tolerance_pct)), lost_grace_s)
    report = await reconcile(ledger, view, instruments, quote_asset, now_ms, policy)
    if not report.ok:
        raise RecoveryRefused(report)
    return report
