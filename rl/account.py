"""Account rules the RL env shares with the paper broker and the risk gate, vectorized.

Kept apart from `rl/env.py` so the rules read in one place: entry sizing (the risk gate's
`size_entry` in floats), the quote quantum the broker books fees and reservations in, and
how it books a matched order's fills. The parity test (tests/integration/test_rl_parity.py)
holds the env to the broker on all three.
"""

from __future__ import annotations

import numpy as np

from exchange import fills

_EPS = 1e-9
_OVERRUN = 1 + 1e-13  # a buy's cost above its budget by more than float noise is an overrun
#: Fees and buy reservations are charged in whole units of this much quote, rounded up, as
#: the paper broker and the ledger do (= exchange.brokers.sim.FEE_QUANTUM; a test holds it).
FEE_QUANTUM = 1e-8
_QUANTUM_SLACK = 1e-6  # in quanta: float noise above an exact grid value is not a new quantum


def size_entries(equity: np.ndarray, price: np.ndarray, held_value: np.ndarray,
                 tick: np.ndarray, lot: np.ndarray, *, risk_per_trade_pct: float,
                 max_position_pct: float, stop_pct: float,
                 confidence: np.ndarray | float = 1.0) -> np.ndarray:
    """`risk.sizing.size_entry` for many buys at once (float, not Decimal): amount =
    min(equity x risk x confidence / stop distance, max_position share of equity - held)
    / price, with the price floored to the tick and the amount floored to the lot."""
    price = np.floor(price / tick + _EPS) * tick
    risk_notional = equity * (risk_per_trade_pct / 100.0) * confidence / (stop_pct / 100.0)
    room = np.maximum(equity * (max_position_pct / 100.0) - held_value, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        amount = fills.floor_to_lot(np.minimum(risk_notional, room) / price, lot)
    return np.where(price > 0, np.maximum(amount, 0.0), 0.0)


def ceil_quantum(quote: np.ndarray) -> np.ndarray:
    """Round quote amounts up to whole `FEE_QUANTUM`s, as `Decimal.quantize(ROUND_CEILING)`
    does in the paper broker (float noise just above a grid value stays on it)."""
    return np.ceil(quote / FEE_QUANTUM - _QUANTUM_SLACK) * FEE_QUANTUM



def floor_quantum(quote: np.ndarray) -> np.ndarray:
    """Round quote amounts down to whole `FEE_QUANTUM`s (`ROUND_FLOOR`), float noise just
    below a grid value staying on it."""
    return np.floor(quote / FEE_QUANTUM + _QUANTUM_SLACK) * FEE_QUANTUM



def book_fills(level_price: np.ndarray, level_amount: np.ndarray, buy: np.ndarray,
               rate: np.ndarray, lot: np.ndarray, reserved: np.ndarray, prepaid: np.ndarray,
               cash: np.ndarray) -> tuple[np.ndarray, ...]:
    """Book each order's fill-model levels as `PaperBroker._apply`/`_payable` do: every
    level's fee rounded up to `FEE_QUANTUM`; a buy's reservation pays first and the
    account's free cash the rest (only fee rounding, or a float overrun of the fill model's
    budget); an amount the account (`cash`, which includes the reservation) cannot pay is cut
    to whole lots, and a buy that cannot pay another lot books no further levels. The fee
    rounding a buy prepaid is tracked: it goes back into the budget the fill model sees.
    Rows are orders; returns (amount, notional, fee, reservation left, prepaid) per order."""
    level_cost = level_price * level_amount
    level_fees = np.where(level_amount > 0, ceil_quantum(level_cost * rate[:, None]), 0.0)
    amount, notional, fee = level_amount.sum(axis=1), level_cost.sum(axis=1), level_fees.sum(axis=1)
    # Nearly always the account pays every level in full: booked at once. A buy whose total
    # comes within float noise of its cash goes level by level, as the broker's loop does.
    sequential = buy & (notional + fee > cash * (1 - 1e-12))
    direct = buy & ~sequential
    left = np.where(direct, np.maximum(reserved - (notional + fee), 0.0), reserved)
    prepaid = np.where(direct, prepaid + fee - notional * rate, prepaid)
    slow = np.flatnonzero(sequential)
    if slow.size:
        amount[slow], notional[slow], fee[slow], left[slow], prepaid[slow] = _book_levels(
            level_price[slow], level_amount[slow], rate[slow], lot[slow], left[slow],
            prepaid[slow], cash[slow])
    return amount, notional, fee, left, prepaid


def _book_levels(level_price: np.ndarray, level_amount: np.ndarray, rate: np.ndarray,
                 lot: np.ndarray, left: np.ndarray, prepaid: np.ndarray, cash: np.ndarray
                 ) -> tuple[np.ndarray, ...]:
    """`book_fills` for buys near what the account can pay, one book level at a time."""
    stopped = np.zeros(level_price.shape[0], bool)
    amount, notional, fee = (np.zeros(level_price.shape[0]) for _ in range(3))
    used = np.flatnonzero((level_amount > 0).any(axis=0))  # makers fill level 0 only
    for level in range(int(used.max()) + 1 if used.size else 0):
        price, take = level_price[:, level], level_amount[:, level]
        live = (take > 0) & ~stopped
        level_fee = ceil_quantum(price * take * rate)
        for spare in (0.0, FEE_QUANTUM):  # as `_payable`: the second leaves room for rounding
            short = live & (price * take + level_fee > cash * _OVERRUN)
            if not short.any():
                break
            with np.errstate(invalid="ignore", divide="ignore"):
                lots = np.floor((cash - spare) / (price * (1 + rate)) / lot + _EPS)
            take = np.where(short, np.maximum(np.minimum(take, lots * lot), 0.0), take)
            level_fee = ceil_quantum(price * take * rate)
        stopped |= live & (take <= 0)  # the account cannot pay another lot
        live &= take > 0
        cost = price * take
        amount += np.where(live, take, 0.0)
        notional += np.where(live, cost, 0.0)
        fee += np.where(live, level_fee, 0.0)
        left = np.where(live, np.maximum(left - cost - level_fee, 0.0), left)
        cash = np.where(live, cash - cost - level_fee, cash)
        prepaid = np.where(live, prepaid + level_fee - cost * rate, prepaid)
    return amount, notional, fee, left, prepaid


__all__ = ["FEE_QUANTUM", "book_fills", "ceil_quantum", "floor_quantum", "size_entries"]
