"""Live broker fills: REST polling (the baseline) against the user data stream.

The same seeded simulator scenario twice, in this run: every market minute a new buy at the
mid price in each of a few USDT symbols, one minute played every `STEP_S` of wall time. Measured:
the REST requests the broker sent (all, and the open-order polls among them: openOrders,
GET order, myTrades) and each fill's latency, from the simulator matching the trade to the
broker handing the fill to its listener. Both modes must report exactly the exchange's
trades (same trade ids), or the comparison is void. The baseline polls every 1 s, the
`[live] poll_interval_s` default; the stream mode uses the `LivePolicy` defaults too
(REST only when silent for 10 s, a safety poll every 60 s).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import numpy as np
from aiohttp import web

from bench.common import console, show
from bot.config import SimConfig
from exchange.brokers.ccxt import CcxtBroker, LivePolicy
from exchange.brokers.ccxt_client import RequestGate, make_exchange
from exchange.sim.auth import ApiCredentials
from exchange.sim.server import SimExchange
from model.instruments import Side
from model.orders import Filled, OrderEvent, OrderRequest, OrderType, PartiallyFilled

# params="": the old generator, on which the recorded figures were measured (every minute
# trades, so each minute's buys fill on cue); the comparison is about the broker, not the market.
CONFIG = SimConfig(coins=6, history_days=1, seed=13, speed=3000.0, params="")
START_MS = 1_700_000_040_000
KEY, SECRET = "b" * 64, "c" * 64
SYMBOLS = 4
MINUTES = 20
STEP_S = 0.5
ORDER_POLLS = ("/api/v3/openOrders", "/api/v3/myTrades", "GET /api/v3/order")


async def _scenario(stream: bool) -> dict[str, Any]:
    requests: Counter[str] = Counter()

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        get_order = request.method == "GET" and request.path == "/api/v3/order"
        requests["GET /api/v3/order" if get_order else request.path] += 1
        return await handler(request)

    sim = SimExchange(CONFIG, start_ms=START_MS, autorun=False)
    sim.middlewares.append(count)
    matched_at: dict[str, float] = {}
    reported_at: dict[str, float] = {}

    def on_events(events: list[OrderEvent]) -> None:
        for event in events:
            if isinstance(event, (PartiallyFilled, Filled)):
                reported_at[event.trade_id] = time.perf_counter()

    async with sim:
        account = sim.orders.open_account(ApiCredentials(KEY, SECRET), {"USDT": Decimal(10**7)})
        account.listeners.append(lambda executions, _a, _t: matched_at.update(
            {str(e.trade.trade_id): time.perf_counter() for e in executions if e.trade}))
        exchange = make_exchange("binance", KEY, SECRET, rest_url=sim.rest_url, rate_limit_ms=5)
        broker = CcxtBroker(exchange, sim.instruments, gate=RequestGate(100),
                            policy=LivePolicy(poll_interval_s=1.0))
        if stream:
            broker.use_user_stream(sim.ws_url)
        broker.listener = on_events
        await broker.start()
        worker = asyncio.create_task(broker.run())
        try:
            await asyncio.sleep(0.5)  # subscribed, first poll done
            requests.clear()
            symbols = [s for s in sim.symbols if s.endswith("USDT")][:SYMBOLS]
            started = time.perf_counter()
            for _ in range(MINUTES):
                for symbol in symbols:  # one new buy per symbol and minute, at the mid
                    index = sim.symbol_index(symbol)
                    assert index is not None  # symbol came from sim.symbols
                    stats = sim.ticker_stats(index)
                    mid = (Decimal(repr(stats.bid)) + Decimal(repr(stats.ask))) / 2
                    rules = broker.instruments[symbol]
                    amount = (Decimal(100) / mid / rules.lot).to_integral_value() * rules.lot
                    broker.submit(OrderRequest(broker.next_client_order_id(), symbol, Side.BUY,
                                               OrderType.LIMIT, amount,
                                               rules.price(mid, Side.BUY), sim.now_ms))
                await broker.drain()
                await sim.step(1)
                await asyncio.sleep(STEP_S)
            await asyncio.sleep(1.5)  # the last poll (baseline) reports the last fills
            elapsed = time.perf_counter() - started
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            await broker.close()
    theirs = sorted(str(t.trade_id) for t in account.trades)
    latency_ms = np.array([(reported_at[t] - matched_at[t]) * 1e3 for t in theirs
                           if t in reported_at])
    return {
        "trades": len(theirs), "reported_once": sorted(reported_at) == theirs,
        "rest_requests": sum(requests.values()),
        "order_polls": sum(requests[p] for p in ORDER_POLLS),
        "rest_per_min": round(sum(requests.values()) / elapsed * 60, 1),
        "latency_p50_ms": round(float(np.percentile(latency_ms, 50)), 1),
        "latency_max_ms": round(float(latency_ms.max()), 1), "seconds": round(elapsed, 1),
    }


def run() -> dict[str, Any]:
    """Both modes on the same scenario; returns their figures and the ratios."""
    polling = asyncio.run(_scenario(stream=False))
    streaming = asyncio.run(_scenario(stream=True))
    if not (polling["reported_once"] and streaming["reported_once"]
            and polling["trades"] == streaming["trades"]):
        console.print("[red]the two modes did not report the same trades: comparison void")
    rows = [[name, str(r["trades"]), str(r["rest_requests"]), str(r["order_polls"]),
             str(r["rest_per_min"]), str(r["latency_p50_ms"]), str(r["latency_max_ms"])]
            for name, r in (("polling (base)", polling), ("stream", streaming))]
    ratios = {
        "rest_requests": round(streaming["rest_requests"] / max(1, polling["rest_requests"]), 3),
        "latency_p50": round(streaming["latency_p50_ms"] / max(1e-9, polling["latency_p50_ms"]), 3),
    }
    rows.append(["stream/base", "", str(ratios["rest_requests"]), "", "",
                 str(ratios["latency_p50"]), ""])
    show("Live broker fills: REST polling vs user data stream",
         ["mode", "trades", "REST requests", "order polls", "REST/min", "fill p50 ms",
          "fill max ms"], rows)
    return {"polling": polling, "stream": streaming, "ratio_stream_over_polling": ratios}
