"""Account rules the RL env shares with the paper broker and the risk gate, per order, compiled.

Kept apart from `rl/env.py` so the rules read in one place: entry sizing (the risk gate's
`size_entry` in floats), the quote quantum the broker books fees and reservations in, and
how it books a matched order's fills. The env's compiled step (rl/env_kernel.py) calls them
per env; the parity test (tests/integration/test_rl_parity.py) holds the env to the broker on
all three, and a unit test holds `size_entries` to `risk.sizing.size_entry`.

Compiled with numba like the fill kernel (ADR-039), with its float conventions: NaN-
propagating min/max, numpy's summation order, x / 0 -> inf/NaN (never an exception).
"""

from __future__ import annotations

import numpy as np

from model.fill_kernel import EPS, floor_to_lot, fmax, fmin, inline_jit, jit, pairwise_sum

_OVERRUN = 1 + 1e-13  # a buy's cost above its budget by more than float noise is an overrun
#: Fees and buy reservations are charged in whole units of this much quote, rounded up, as
#: the paper broker and the ledger do (= exchange.brokers.sim.FEE_QUANTUM; a test holds it).
FEE_QUANTUM = 1e-8
_QUANTUM_SLACK = 1e-6  # in quanta: float noise above an exact grid value is not a new quantum


@jit
def ceil_quantum(quote):  # type: ignore[no-untyped-def]  # float or float array
    """Round quote amounts up to whole `FEE_QUANTUM`s, as `Decimal.quantize(ROUND_CEILING)`
    does in the paper broker (float noise just above a grid value stays on it)."""
    return np.ceil(quote / FEE_QUANTUM - _QUANTUM_SLACK) * FEE_QUANTUM


@jit
def size_entry(equity: float, price: float, held_value: float, tick: float, lot: float,
               risk_per_trade_pct: float, max_position_pct: float, stop_pct: float,
               confidence: float) -> float:
    """`risk.sizing.size_entry` in floats: amount = min(equity x risk x confidence / stop
    distance, max_position share of equity - held) / price, with the price floored to the
    tick and the amount floored to the lot; 0 for a non-positive price."""
    price = np.floor(price / tick + EPS) * tick
    risk_notional = equity * (risk_per_trade_pct / 100.0) * confidence / (stop_pct / 100.0)
    room = fmax(equity * (max_position_pct / 100.0) - held_value, 0.0)
    if not price > 0:
        return 0.0
    return fmax(floor_to_lot(fmin(risk_notional, room) / price, lot), 0.0)


@jit
def _size_many(equity: np.ndarray, price: np.ndarray, held_value: np.ndarray,
               tick: np.ndarray, lot: np.ndarray, risk_per_trade_pct: float,
               max_position_pct: float, stop_pct: float, confidence: np.ndarray) -> np.ndarray:
    out = np.empty(equity.shape[0])
    for i in range(equity.shape[0]):
        out[i] = size_entry(equity[i], price[i], held_value[i], tick[i], lot[i],
                            risk_per_trade_pct, max_position_pct, stop_pct, confidence[i])
    return out


def size_entries(equity: np.ndarray, price: np.ndarray, held_value: np.ndarray,
                 tick: np.ndarray, lot: np.ndarray, *, risk_per_trade_pct: float,
                 max_position_pct: float, stop_pct: float,
                 confidence: np.ndarray | float = 1.0) -> np.ndarray:
    """`size_entry` for many buys at once (arrays of the same length)."""
    n = np.asarray(equity).shape[0]

    def column(x: np.ndarray | float) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(np.asarray(x, np.float64), (n,)))

    return _size_many(column(equity), column(price), column(held_value), column(tick),
                      column(lot), float(risk_per_trade_pct), float(max_position_pct),
                      float(stop_pct), column(confidence))


@inline_jit
def book_fill(level_price: np.ndarray, level_amount: np.ndarray, levels: int, buy: bool,
              rate: float, lot: float, reserved: float, prepaid: float, cash: float,
              cost: np.ndarray, fees: np.ndarray) -> tuple[float, float, float, float, float]:
    """Book one order's fill-model levels as `PaperBroker._apply`/`_payable` do: every
    level's fee rounded up to `FEE_QUANTUM`; a buy's reservation pays first and the
    account's free cash the rest (only fee rounding, or a float overrun of the fill model's
    budget); an amount the account (`cash`, which includes the reservation) cannot pay is
    cut to whole lots, and a buy that cannot pay another lot books no further levels. The
    fee rounding a buy prepaid is tracked: it goes back into the budget the fill model sees.
    Returns (amount, notional, fee, reservation left, prepaid); a sell's reservation and
    prepaid pass through unchanged. `cost` and `fees` are working space of length `levels`."""
    for k in range(levels):
        cost[k] = level_price[k] * level_amount[k]
        fees[k] = ceil_quantum(cost[k] * rate) if level_amount[k] > 0 else 0.0
    amount = pairwise_sum(level_amount, levels)
    notional = pairwise_sum(cost, levels)
    fee = pairwise_sum(fees, levels)
    if not buy:
        return amount, notional, fee, reserved, prepaid
    if not notional + fee > cash * (1 - 1e-12):
        # Nearly always the account pays every level in full: booked at once.
        return (amount, notional, fee, fmax(reserved - (notional + fee), 0.0),
                prepaid + fee - notional * rate)
    # A buy whose total comes within float noise of its cash goes level by level, as the
    # broker's loop does.
    amount = notional = fee = 0.0
    left = reserved
    for k in range(levels):
        price, take = level_price[k], level_amount[k]
        if not take > 0:
            continue
        level_fee = ceil_quantum(price * take * rate)
        for spare in (0.0, FEE_QUANTUM):  # as `_payable`: the second leaves room for rounding
            if not price * take + level_fee > cash * _OVERRUN:
                break
            lots = np.floor((cash - spare) / (price * (1 + rate)) / lot + EPS)
            take = fmax(fmin(take, lots * lot), 0.0)
            level_fee = ceil_quantum(price * take * rate)
        if not take > 0:
            break  # the account cannot pay another lot
        level_cost = price * take
        amount += take
        notional += level_cost
        fee += level_fee
        left = fmax(left - level_cost - level_fee, 0.0)
        cash = cash - level_cost - level_fee
        prepaid = prepaid + level_fee - level_cost * rate
    return amount, notional, fee, left, prepaid


__all__ = ["FEE_QUANTUM", "book_fill", "ceil_quantum", "size_entries", "size_entry"]
