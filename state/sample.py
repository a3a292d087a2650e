"""A seeded stream of realistic order lifecycles, for ledger tests, benchmarks and demos.

Same seed, same events, byte for byte: the determinism and crash tests depend on it. Orders
on a few symbols interleave; each is requested, then accepted or rejected, then partially
filled some times and finally filled or canceled, as a broker reports them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal

from model.instruments import Instrument, Side
from model.orders import (
    Accepted,
    Canceled,
    Filled,
    Liquidity,
    OrderRequest,
    OrderType,
    PartiallyFilled,
    Rejected,
    RejectReason,
)
from state.codec import BalanceSet, LedgerEvent

SAMPLE_INSTRUMENTS: dict[str, Instrument] = {
    "BTCUSDT": Instrument("BTCUSDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"),
                          Decimal(5)),
    "ETHUSDT": Instrument("ETHUSDT", "ETH", "USDT", Decimal("0.01"), Decimal("0.0001"),
                          Decimal(5)),
    "SOLUSDT": Instrument("SOLUSDT", "SOL", "USDT", Decimal("0.01"), Decimal("0.001"),
                          Decimal(5)),
}
_MID = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 150.0}
# Explicit rounding everywhere: ccxt's decimal_to_precision sets the thread's global decimal
# context to ROUND_HALF_UP, so a bare quantize() would give other fees once ccxt has run.
_FEE_QUANTUM = Decimal("0.00000001")
_FEE_RATE = Decimal("0.001")
START_MS = 1_700_000_000_000


def sample_events(count: int, seed: int = 7) -> Iterator[LedgerEvent]:
    """`count` events (or slightly fewer if the stream ends a lifecycle): a deposit, then
    interleaved order lifecycles."""
    rng = random.Random(seed)
    ts = START_MS
    yield BalanceSet("USDT", Decimal(1000000), Decimal(0), ts, ts)
    emitted = 1
    live: list[Iterator[LedgerEvent]] = []
    order_no = 0
    while emitted < count:
        if not live or (len(live) < 8 and rng.random() < 0.3):
            order_no += 1
            live.append(_lifecycle(rng, f"o{seed}-{order_no}", ts))
        lifecycle = live[rng.randrange(len(live))]
        ts += rng.randint(1, 50)
        try:
            event = next(lifecycle)
        except StopIteration:
            live.remove(lifecycle)
            continue
        yield _retime(event, ts)
        emitted += 1


def _retime(event: LedgerEvent, ts: int) -> LedgerEvent:
    """The event with timestamps from the interleaved clock (exchange time, then ours)."""
    fields = {name: getattr(event, name) for name in event.__dataclass_fields__}
    fields["ts_event"] = ts
    if "ts_recv" in fields:
        fields["ts_recv"] = ts + 3
    return type(event)(**fields)


def _lifecycle(rng: random.Random, client_order_id: str, ts: int) -> Iterator[LedgerEvent]:
    """One order from request to its terminal event (timestamps are set by the caller)."""
    symbol = rng.choice(sorted(SAMPLE_INSTRUMENTS))
    instrument = SAMPLE_INSTRUMENTS[symbol]
    side = Side.BUY if rng.random() < 0.55 else Side.SELL
    market = rng.random() < 0.15
    mid = _MID[symbol] * (1 + rng.gauss(0, 0.01))
    price = None if market else instrument.price(mid, side)
    amount = instrument.amount(rng.uniform(200, 5_000) / mid)
    order_type = OrderType.MARKET if market else OrderType.LIMIT
    yield OrderRequest(client_order_id, symbol, side, order_type, amount, price, ts)
    if rng.random() < 0.05:
        yield Rejected(client_order_id, symbol, RejectReason.INSUFFICIENT_FUNDS,
                       "not enough quote", ts, ts)
        return
    yield Accepted(client_order_id, symbol, side, order_type, amount, price, ts, ts)
    remaining = amount
    trade = 0
    while True:
        trade += 1
        trade_id = f"{client_order_id}-t{trade}"
        fill_price = price if price is not None else instrument.price(mid, Side.SELL)
        liquidity = Liquidity.TAKER if market else Liquidity.MAKER
        if not market and rng.random() < 0.15:
            yield Canceled(client_order_id, symbol, remaining, ts, ts)
            return
        part = instrument.amount(remaining * Decimal(str(round(rng.uniform(0.2, 0.9), 2))))
        if rng.random() < 0.5 or part <= 0 or part >= remaining:
            fee = (fill_price * remaining * _FEE_RATE).quantize(
                _FEE_QUANTUM, rounding=ROUND_HALF_EVEN)
            yield Filled(client_order_id, symbol, side, trade_id, fill_price, remaining, fee,
                         liquidity, ts, ts)
            return
        remaining -= part
        fee = (fill_price * part * _FEE_RATE).quantize(_FEE_QUANTUM, rounding=ROUND_HALF_EVEN)
        yield PartiallyFilled(client_order_id, symbol, side, trade_id, fill_price, part, fee,
                              liquidity, remaining, ts, ts)
