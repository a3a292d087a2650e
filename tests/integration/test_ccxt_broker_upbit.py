"""The live broker on Upbit beyond the shared contract: Upbit's plain 429 backs every request
off (ccxt raises RateLimitExceeded for it, not DDoSProtection), and the fees the ledger
gets, spread over a partly filled order's trades, add up to what the exchange charged.
`CcxtBroker` with ccxt's Upbit client, JWT-signed over 127.0.0.1 to the simulator."""

from __future__ import annotations

from decimal import Decimal

import pytest

from model.orders import Accepted, Filled, PartiallyFilled
from tests.contract.harness import CcxtUpbitSimHarness, limit_buy, run_broker, until


@pytest.mark.slow
def test_upbit_429_backs_everything_off_then_places_once() -> None:
    async def scenario(h: CcxtUpbitSimHarness) -> None:
        h.sim.upbit.orders.order_limiter.fail_next(429, 1)
        h.submit(limit_buy(h, "U-429", 0.9, "0.01"))
        await h.minutes(0)
        assert h.broker.gate.rate_limited == 1
        assert h.exchange_orders("U-429") == 1
        assert [type(e) for e in h.events] == [Accepted]
        assert h.broker.stats["create_retries"] == 0 and h.broker.stats["lookups"] == 0

    run_broker(CcxtUpbitSimHarness, scenario)


def test_fees_of_partial_fills_add_up_to_the_exchange_fee() -> None:
    async def scenario(h: CcxtUpbitSimHarness) -> None:
        h.submit(limit_buy(h, "U-fee", 1.03, "5"))  # ~3x a minute's fillable volume
        await h.minutes(4)
        account = h.sim.orders.accounts[h.KEY]
        assert account.orders[0].status == "FILLED"
        await until(lambda: any(isinstance(e, Filled) for e in h.events), timeout_s=10)
        fills = [e for e in h.events if isinstance(e, (PartiallyFilled, Filled))]
        assert len(fills) >= 2, h.events
        charged = sum((t.commission for t in account.trades), Decimal(0))
        assert sum((e.fee for e in fills), Decimal(0)) == charged > 0
        assert sum((e.amount for e in fills), Decimal(0)) == sum(
            (t.qty for t in account.trades), Decimal(0))

    run_broker(CcxtUpbitSimHarness, scenario)
