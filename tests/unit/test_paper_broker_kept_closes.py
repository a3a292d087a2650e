"""A quiet replay minute only keeps its closes (`SeenMarket.saw_close_column`): they are
read into the broker's quotes when an order asks. Whatever order batches, bars and quote
reads come in, a market order is priced off the same newest close as when every batch is
given bar by bar; and `free_balance` is `free_balances().get(asset, 0)`."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from exchange.brokers.sim import PaperBroker
from model.fills import FillParams
from model.instruments import Instrument, Side
from model.market import Bar, BarBatch
from model.orders import OrderRequest, OrderType

SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT")
INSTRUMENTS = [Instrument(s, s[:3], "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("1"))
               for s in SYMBOLS]
SPREADS = {"AAAUSDT": 0.002, "BBBUSDT": 0.0}  # CCCUSDT: the default one-tick spread


def bars_at(minute: int, symbols: tuple[str, ...]) -> list[Bar]:
    """A minute's bars whose closes differ by symbol and minute (a stale close shows)."""
    return [Bar(s, minute * 60_000, 100.0, 120.0, 80.0, 100.0 + minute + 0.25 * k, 5.0, 500.0)
            for k, s in enumerate(symbols)]


def as_batch(bars: list[Bar], symbols: tuple[str, ...]) -> BarBatch:
    """The bars as a replay's batch, with the caller's tuple of their symbols (a replay
    brings the same tuple object every minute)."""
    def column(name: str) -> np.ndarray:
        return np.array([getattr(bar, name) for bar in bars], dtype=float)

    assert symbols == tuple(bar.symbol for bar in bars)
    return BarBatch(symbols, bars[0].open_ms, column("open"),
                    column("high"), column("low"), column("close"), column("volume"),
                    column("quote_volume"), np.array([bar.trades for bar in bars], np.int64))


def market_buy_reservations(broker: PaperBroker, ts: int) -> dict[str, Decimal]:
    """What a market buy of each symbol reserves (its quote's ask decides it); each is
    canceled at once (the market is declared closed up to `ts`, as a decision step does),
    so the next minute again meets no open order."""
    broker.close_market_until(ts)
    reserved = {}
    for symbol in SYMBOLS:
        cid = broker.next_client_order_id()
        broker.submit(OrderRequest(cid, symbol, Side.BUY, OrderType.MARKET, Decimal("1"),
                                   None, ts))
        reserved[symbol] = broker.reserved_balances()["USDT"]
        broker.cancel(cid, ts)
    assert broker.open_orders() == []
    return reserved


def test_kept_closes_price_orders_as_the_bars_one_by_one_do() -> None:
    # given two brokers, one fed columnar batches (kept closes), one the same bars as Bars
    kept, by_bar = (PaperBroker(INSTRUMENTS, FillParams(), {"USDT": Decimal("100000")},
                                spreads=SPREADS) for _ in range(2))
    other_tuple = SYMBOLS[1:]
    # when minutes come as: every symbol; a quote read; the same tuple twice unread; then
    # an equal tuple that is another object; a batch of two symbols; one Bar of one symbol
    steps: list[tuple[str, int, tuple[str, ...]]] = [
        ("batch", 0, SYMBOLS), ("read", 60_000, ()), ("batch", 1, SYMBOLS),
        ("batch", 2, SYMBOLS), ("batch", 3, tuple(list(SYMBOLS))), ("read", 240_000, ()),
        ("batch", 4, SYMBOLS), ("batch", 5, other_tuple), ("bar", 6, ("CCCUSDT",)),
        ("read", 420_000, ()), ("batch", 7, SYMBOLS), ("batch", 8, other_tuple),
        ("read", 540_000, ())]
    seen: list[dict[str, Decimal]] = []
    for kind, number, symbols in steps:
        if kind == "read":
            reservations = [market_buy_reservations(b, number) for b in (kept, by_bar)]
            # then each market buy is reserved off the newest close either way
            assert reservations[0] == reservations[1]
            seen.append(reservations[0])
            continue
        bars = bars_at(number, symbols)
        if kind == "bar":
            assert kept.on_bars(bars) == by_bar.on_bars(bars) == []
            continue
        batch = as_batch(bars, symbols)
        assert kept.on_bars(batch) == [] and by_bar.on_bars(bars) == []
        batch.close[:] = -1.0  # the batch's array written after: the broker kept a copy
    # (the reads saw different closes: no stale quote could pass unnoticed)
    assert len({tuple(r.values()) for r in seen}) == len(seen) == 4
    assert kept.balances() == by_bar.balances() and kept.counters() == by_bar.counters()


def test_free_balance_is_the_free_balances_entry() -> None:
    # given an account holding USDT and AAA, with a buy reserving USDT and a sell some AAA
    broker = PaperBroker(INSTRUMENTS, FillParams(), {"USDT": Decimal("1000.50"),
                                                     "AAA": Decimal("3")})
    for side, amount, price in ((Side.BUY, "2", "99.5"), (Side.SELL, "1.25", "130")):
        broker.submit(OrderRequest(broker.next_client_order_id(), "AAAUSDT", side,
                                   OrderType.LIMIT, Decimal(amount), Decimal(price), 0))
    free = broker.free_balances()
    assert free["USDT"] < Decimal("1000.50") and free["AAA"] == Decimal("1.75")
    # then each asset's free balance, held or not, is its entry (0 when absent)
    for asset in ("USDT", "AAA", "BBB", "XYZ"):
        value = broker.free_balance(asset)
        assert value == free.get(asset, Decimal(0)) and str(value) == str(free.get(asset, 0))


def test_a_batch_of_some_symbols_closes_only_their_markets() -> None:
    # given two brokers, one fed columnar batches, one the same bars as Bars, alternating a
    # minute of every symbol with a minute of two (a cancel of a third symbol's order timed
    # after that minute can still meet its next bar: it is not final at once)
    kept, by_bar = (PaperBroker(INSTRUMENTS, FillParams(), {"USDT": Decimal("100000")})
                    for _ in range(2))
    answers: list[list[list[object]]] = [[], []]
    for minute, symbols in enumerate((SYMBOLS, SYMBOLS[1:], SYMBOLS, SYMBOLS[1:])):
        bars = bars_at(minute, symbols)
        assert kept.on_bars(as_batch(bars, symbols)) == [] and by_bar.on_bars(bars) == []
        ts = (minute + 1) * 60_000
        for broker, answer in zip((kept, by_bar), answers):
            cid = broker.next_client_order_id()
            broker.submit(OrderRequest(cid, "AAAUSDT", Side.BUY, OrderType.LIMIT,
                                       Decimal("1"), Decimal("50"), ts))
            answer.append(list(broker.cancel(cid, ts)))
            answer.append(list(broker.close_market_until(ts)))
    # then each cancel ends when the bars one by one end it: at once after a minute of
    # every symbol, at the decision step's close after a minute of the other two
    assert answers[0] == answers[1]
    assert [len(events) for events in answers[0]] == [1, 0, 0, 1] * 2


def test_a_batch_after_quiet_minutes_still_fills_an_open_order() -> None:
    # given two brokers that saw a quiet minute (one as a batch), then got the same buy
    kept, by_bar = (PaperBroker(INSTRUMENTS, FillParams(), {"USDT": Decimal("100000")})
                    for _ in range(2))
    quiet = bars_at(0, SYMBOLS)
    assert kept.on_bars(as_batch(quiet, SYMBOLS)) == [] and by_bar.on_bars(quiet) == []
    for broker in (kept, by_bar):
        broker.submit(OrderRequest(broker.next_client_order_id(), "BBBUSDT", Side.BUY,
                                   OrderType.LIMIT, Decimal("1"), Decimal("101"), 60_000))
    # when the next minute (the same symbols' tuple) trades through its price
    bars = bars_at(1, SYMBOLS)
    filled = kept.on_bars(as_batch(bars, SYMBOLS))
    # then the batch fills it as the bars do
    assert filled == by_bar.on_bars(bars) and filled and kept.open_orders() == []
    assert kept.balances() == by_bar.balances()
