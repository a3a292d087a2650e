"""Our Decimal results do not depend on the thread's decimal context.

ccxt's `decimal_to_precision` sets the global context's rounding to ROUND_HALF_UP (and traps
Underflow) whenever it runs, in the daemon's own thread. Every rounding we do must therefore
name its rounding mode; this pins it for the ledger's sample stream (which the crash test
compares across processes) and for the fee and sizing paths.
"""

from __future__ import annotations

import decimal
from itertools import islice

from ccxt.base.decimal_to_precision import TRUNCATE, decimal_to_precision

from state.sample import sample_events


def test_sample_events_are_identical_after_ccxt_has_changed_the_global_context() -> None:
    before = list(islice(sample_events(400, seed=3), 400))
    saved = decimal.getcontext().copy()
    try:
        decimal_to_precision("1.005", TRUNCATE, 2)  # what ccxt does on every amount_to_precision
        assert decimal.getcontext().rounding == decimal.ROUND_HALF_UP  # the hazard is real
        after = list(islice(sample_events(400, seed=3), 400))
    finally:
        decimal.setcontext(saved)
    assert after == before
