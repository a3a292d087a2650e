"""Live mode: start the `CcxtBroker` the trader is built with, and open the account from the
exchange.

Called by the daemon when `app.mode = "live"` (the CLI has already demanded
`--confirm-live` and checked the keys). With `exchange.source = "sim"` the orders go to an
account on the embedded simulator, funded with `trading.starting_balance`, through the very
ccxt client that would talk to Binance: this is how the live path is tested end to end.
"""

from __future__ import annotations

import logging
import secrets
from decimal import Decimal

from bot.app.assembly import fill_params
from bot.config import Config
from bot.secrets import ApiKeys, load_api_keys
from exchange.brokers.ccxt import CcxtBroker, LivePolicy
from exchange.brokers.ccxt_client import (
    LOCAL_RATE_LIMIT_MS,
    RequestGate,
    dialect_for,
    make_exchange,
)
from exchange.sim.auth import ApiCredentials
from exchange.sim.server import SimExchange
from model.instruments import Instrument
from state.codec import BalanceSet
from state.ledger import Ledger
from trading.trader import Trader

log = logging.getLogger(__name__)

ID_PREFIX_KEY = "live_client_id_prefix"
BINANCE_REST = "https://api.binance.com"


def client_id_prefix(ledger: Ledger) -> str:
    """This ledger's client-order-id prefix, made once and kept in the ledger.

    Exchanges look orders up by client id, and Binance allows an id again once the earlier
    order closed: a fresh ledger reusing `E-00000001` on the same account could adopt an old
    order as its own. A random prefix per ledger makes every id unique to its ledger."""
    prefix = ledger.get_kv(ID_PREFIX_KEY)
    if prefix is None:
        prefix = f"L{secrets.token_hex(3)}"
        ledger.set_kv(ID_PREFIX_KEY, prefix)
    return str(prefix)


async def start_live_broker(config: Config, tradable: list[Instrument], ledger: Ledger,
                            sim: SimExchange | None, keys: ApiKeys | None = None) -> CcxtBroker:
    """Connect a ccxt broker for the `tradable` instruments and return it, started: the
    trader is then built with it (`bot.app.assembly.make_trader`, which makes the trader its
    listener), and its `run()` must be given a task. Raises `bot.secrets.SecretsError`
    without keys."""
    fills = fill_params(config)
    keys = keys or load_api_keys(config)
    # ccxt's DEBUG lines carry every request's headers (the API key) and the account's
    # balances; the log redaction filter would mask the key, but keep them out anyway.
    logging.getLogger("ccxt").setLevel(max(logging.INFO, logging.getLogger().level))
    key, secret = keys.api_key.get_secret_value(), keys.api_secret.get_secret_value()
    rest_url, rate_limit_ms = None, None
    if config.exchange.source == "binance" and config.exchange.rest_url != BINANCE_REST:
        rest_url = config.exchange.rest_url  # e.g. a standalone `entasis sim-server`
    if sim is not None:
        if key not in sim.orders.accounts:
            quote = config.trading.quote_asset
            # Upbit's face checks JWTs with its own key list; its accounts are the same
            # matching-core accounts (exchange/sim/upbit_orders_api.py, ADR-031)
            accounts = sim.upbit.orders if config.live.ccxt_id == "upbit" else sim.orders
            accounts.open_account(ApiCredentials(key, secret),
                                  {quote: Decimal(str(config.trading.starting_balance))},
                                  fills)
        # The embedded simulator enforces its own limit (429/418); ccxt's 50 ms spacing for
        # the real Binance would only slow it down. Our RequestGate budget still applies.
        rest_url, rate_limit_ms = sim.rest_url, LOCAL_RATE_LIMIT_MS
    exchange = make_exchange(config.live.ccxt_id, key, secret, rest_url=rest_url,
                             rate_limit_ms=rate_limit_ms)
    budget = config.live.requests_per_s or dialect_for(config.live.ccxt_id).requests_per_s
    broker = CcxtBroker(exchange, tradable,
                        fill_params=fills,
                        id_prefix=client_id_prefix(ledger),
                        policy=LivePolicy(
                            poll_interval_s=config.live.poll_interval_s,
                            stream_silent_after_s=config.live.stream_silent_after_s,
                            stream_safety_poll_s=config.live.stream_safety_poll_s),
                        gate=RequestGate(budget))
    if config.live.user_stream and config.live.ccxt_id == "binance":
        # Fills from the user data stream; REST polls only while it is silent (ADR-033).
        broker.use_user_stream(sim.ws_url if sim is not None else config.exchange.ws_url)
    try:
        await broker.start()
    except Exception:
        await broker.close()
        raise
    log.info("live broker: %s via ccxt (%s), client ids %s-…", config.live.ccxt_id,
             "simulator" if sim is not None else "exchange", broker.id_prefix)
    return broker


def open_live_account(trader: Trader, broker: CcxtBroker, ts_ms: int) -> bool:
    """Open (first run: every balance the exchange reports) or resume the ledger's account.
    Returns True when it resumed."""
    quote = trader.quote_asset
    totals = broker.balances()
    if trader.ledger.get_kv("account_opened") is None:
        with trader.ledger.batch():
            for asset, total in sorted(totals.items()):
                if asset != quote and total:
                    trader.ledger.record(BalanceSet(asset, total, Decimal(0), ts_ms, ts_ms))
    resumed = trader.open_account(totals.get(quote, Decimal(0)), ts_ms)
    restore_known_trades(trader.ledger, broker)
    return resumed


def restore_known_trades(ledger: Ledger, broker: CcxtBroker) -> int:
    """Tell the broker which trades of its restored orders the ledger already holds, so a
    partly filled order's old trades are not reported again after a restart. Call after
    the account was resumed and before `broker.run()`. Returns how many trade ids."""
    restored = [o.client_order_id for o in broker.open_orders()]
    known: dict[str, list[str]] = {}
    for start in range(0, len(restored), 500):  # SQLite's bound-parameter limit
        chunk = restored[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        for row in ledger.db.query(
                f"SELECT client_order_id, trade_id FROM fills WHERE client_order_id IN ({marks})",
                chunk):
            known.setdefault(row["client_order_id"], []).append(str(row["trade_id"]))
    for client_order_id, trade_ids in known.items():
        broker.restore_trade_ids(client_order_id, trade_ids)
    return sum(len(ids) for ids in known.values())
