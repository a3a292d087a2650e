"""Table-driven fill scenarios: a few ticks or bars, one order, the fills expected.

One row per rule of model/fills.py. Prices use tick 1 and lot 0.01 unless a row says
otherwise, so the numbers can be checked by hand. A bar's volume is spread evenly over the
grid points of its path; e.g. the up bar O100 L98 H103 C102 visits 9 points
(100 99 98 99 100 101 102 103 102), so with volume 90 each point carries 10.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pytest

from model import fills
from model.fills import BUY, MAKER, NO_CANCEL_MS, SELL, TAKER, FillParams

BASE = FillParams(
    max_volume_share=1.0,
    maker_fee_bps=0.0,
    taker_fee_bps=0.0,
    book_levels=5,
    book_level_growth=1.0,
    bar_book_share=0.08,
)


@dataclass(frozen=True)
class T:
    """A tick: `volume` traded since the previous tick, at `last`."""

    ms: int
    last: float
    bid: float
    ask: float
    bid_qty: float = 10.0
    ask_qty: float = 10.0
    volume: float = 0.0


@dataclass(frozen=True)
class B:
    """A closed 1m bar opening at `ms`."""

    ms: int
    o: float
    h: float
    l: float  # noqa: E741  o/h/l/c: the bar's OHLC, as the scenario tables spell them
    c: float
    v: float


@dataclass(frozen=True)
class Order:
    side: int
    price: float  # NaN for market orders
    amount: float
    market: bool = False
    placed_ms: int = 0
    cancel_ms: int = NO_CANCEL_MS
    tick: float = 1.0
    lot: float = 0.01


# (event index, [(price, amount) per level], liquidity, fee)
Fill = tuple[int, list[tuple[float, float]], int, float]


@dataclass(frozen=True)
class Row:
    rule: str
    events: list[T | B]
    order: Order
    fills: list[Fill]
    end: str  # "open", "filled" or "canceled"
    params: dict[str, float] = field(default_factory=dict)


UP_BAR = B(0, 100, 103, 98, 102, 90)  # path 100 99 98 99 100 101 102 103 102, 10 per point
DOWN_BAR = B(0, 102, 103, 98, 100, 90)  # path 102 103 102 101 100 99 98 99 100, 10 per point
BOOK = T(0, 100, 100, 101)  # bid 100 x 10, ask 101 x 10
NAN = float("nan")

ROWS = [
    Row("buy limit fills at its price when the bar trades through it",
        [UP_BAR], Order(BUY, 99, 5), [(0, [(99, 5)], MAKER, 0)], "filled"),
    Row("sell limit fills at its price when the bar trades through it",
        [UP_BAR], Order(SELL, 102, 5), [(0, [(102, 5)], MAKER, 0)], "filled"),
    Row("a fill is never at a price better than the order's own limit, even far through",
        [B(0, 100, 100, 90, 92, 90)], Order(BUY, 99, 1), [(0, [(99, 1)], MAKER, 0)], "filled"),
    Row("buy touching the bar low fills only the volume beyond the queue ahead",
        # joins 2 ticks under the synthesized bid: queue 0.08 * 90 = 7.2; 10 trade at 98
        [UP_BAR], Order(BUY, 98, 5), [(0, [(98, 2.8)], MAKER, 0)], "open"),
    Row("sell touching the bar high fills only the volume beyond the queue ahead",
        [UP_BAR], Order(SELL, 103, 5), [(0, [(103, 2.8)], MAKER, 0)], "open"),
    Row("a touch does not fill while the queue ahead exceeds the volume at the price",
        [UP_BAR], Order(BUY, 98, 5), [], "open", {"bar_book_share": 0.2}),
    Row("tick touches consume the queue ahead (joined best bid of 10) before the order",
        [BOOK, T(1, 100, 100, 101, volume=6), T(2, 100, 100, 101, volume=7)],
        Order(BUY, 100, 5), [(2, [(100, 3)], MAKER, 0)], "open"),
    Row("an order improving the spread has no queue ahead",
        [T(0, 100, 100, 102), T(1, 101, 100, 102, volume=2)],
        Order(BUY, 101, 5), [(1, [(101, 2)], MAKER, 0)], "open"),
    Row("a tick whose ask crosses a resting buy fills it as maker at its limit",
        [BOOK, T(1, 99, 98, 99, ask_qty=4)], Order(BUY, 99.0, 5),
        [(1, [(99, 4)], MAKER, 0)], "open"),
    Row("a tick placed order sees the book but not that tick's trade",
        [T(0, 95, 95, 96, volume=50)], Order(BUY, 95, 5), [], "open"),
    Row("a marketable buy limit takes at the ask, not at its limit",
        [BOOK], Order(BUY, 105, 3), [(0, [(101, 3)], TAKER, 0)], "filled"),
    Row("a marketable sell limit takes at the bid, not at its limit",
        [BOOK], Order(SELL, 95, 3), [(0, [(100, 3)], TAKER, 0)], "filled"),
    Row("a marketable limit walks no further than its limit and rests the rest",
        [BOOK, T(1, 102, 101, 102, volume=10)], Order(BUY, 102, 25),
        [(0, [(101, 10), (102, 10)], TAKER, 0), (1, [(102, 5)], MAKER, 0)], "filled"),
    Row("on a bar a marketable limit takes at the synthesized ask (open + 1 tick)",
        [UP_BAR], Order(BUY, 101, 3), [(0, [(101, 3)], TAKER, 0)], "filled"),
    Row("a trade through the price fills up to all the volume at or through it, uncapped",
        # 30 traded at or below 99 (points 99 98 99): all of it, max_volume_share aside
        [UP_BAR], Order(BUY, 99, 50), [(0, [(99, 30)], MAKER, 0)], "open",
        {"max_volume_share": 0.1}),
    Row("a touch fills at most max_volume_share of the volume at the price",
        # queue 7.2 ahead at 98, 10 trade there: 2.8 would reach it, 10% of 10 does
        [UP_BAR], Order(BUY, 98, 5), [(0, [(98, 1)], MAKER, 0)], "open",
        {"max_volume_share": 0.1}),
    Row("up bar path open-low-high-close: 40 trade at or above 101 (101 102 103 102)",
        [UP_BAR], Order(SELL, 101, 50), [(0, [(101, 40)], MAKER, 0)], "open"),
    Row("down bar path open-high-low-close: 50 trade at or below 100 (100 99 98 99 100)",
        [DOWN_BAR], Order(BUY, 100, 100), [(0, [(100, 50)], MAKER, 0)], "open"),
    Row("fill amounts are floored to the lot grid",
        # 3 * 80/9 = 26.67 traded at or below 99 -> 26.6 on a 0.1 lot
        [B(0, 100, 103, 98, 102, 80)], Order(BUY, 99, 50, lot=0.1),
        [(0, [(99, 26.6)], MAKER, 0)], "open"),
    Row("maker fills pay the maker fee in quote",
        [UP_BAR], Order(BUY, 99, 5), [(0, [(99, 5)], MAKER, 99 * 5 * 0.001)], "filled",
        {"maker_fee_bps": 10, "taker_fee_bps": 20}),
    Row("taker fills pay the taker fee in quote",
        [BOOK], Order(BUY, 105, 3), [(0, [(101, 3)], TAKER, 101 * 3 * 0.002)], "filled",
        {"maker_fee_bps": 10, "taker_fee_bps": 20}),
    Row("a small market buy fills at the ask",
        [BOOK], Order(BUY, NAN, 5, market=True), [(0, [(101, 5)], TAKER, 0)], "filled"),
    Row("a large market buy walks the synthesized book: slippage grows with size",
        [BOOK], Order(BUY, NAN, 25, market=True),
        [(0, [(101, 10), (102, 10), (103, 5)], TAKER, 0)], "filled"),
    Row("book levels grow by book_level_growth (10, 20, 40 ...)",
        [BOOK], Order(SELL, NAN, 25, market=True),
        [(0, [(100, 10), (99, 15)], TAKER, 0)], "filled", {"book_level_growth": 2.0}),
    Row("what a market order cannot take within the book depth expires",
        [BOOK], Order(BUY, NAN, 60, market=True),
        [(0, [(101, 10), (102, 10), (103, 10), (104, 10), (105, 10)], TAKER, 0)],
        "canceled"),
    Row("an order meets no event that started before it was placed",
        [UP_BAR, B(60_000, 102, 102, 101, 101, 90)], Order(BUY, 99, 5, placed_ms=30_000),
        [], "open"),
    Row("a cancel lets the bar in progress at the cancel time still fill, then closes",
        [UP_BAR, B(60_000, 102, 102, 90, 95, 90)], Order(BUY, 99, 50, cancel_ms=30_000),
        [(0, [(99, 30)], MAKER, 0)], "canceled"),
    Row("a cancel takes effect at the next tick: no fill after it",
        [BOOK, T(2_000, 90, 89, 90, volume=50)], Order(BUY, 100, 5, cancel_ms=1_000),
        [], "canceled"),
    Row("a cancel waits for the next event: a tick before it still fills",
        [BOOK, T(500, 99, 99, 100, volume=50), T(2_000, 90, 89, 90, volume=50)],
        Order(BUY, 100, 10, cancel_ms=1_000), [(1, [(100, 10)], MAKER, 0)], "filled"),
]  # fmt: skip


def _market(event: T | B, order: Order, params: FillParams) -> fills.MarketArrays:
    if isinstance(event, T):
        return fills.market_from_ticks(
            [event.ms], [event.last], [event.bid], [event.ask],
            [event.bid_qty], [event.ask_qty], [event.volume],
        )  # fmt: skip
    return fills.market_from_bars(
        [event.ms], [event.o], [event.h], [event.l], [event.c], [event.v], [order.tick], params
    )


def run(row: Row) -> tuple[list[Fill], str]:
    """Feed the row's events one by one, carrying the order's state in arrays."""
    params = replace(BASE, **row.params)  # type: ignore[arg-type]
    o = row.order
    batch = fills.orders(
        [0], [o.side], [o.price], [o.amount], o.tick, o.lot,
        is_market=[o.market], placed_ms=[o.placed_ms],
    )  # fmt: skip
    batch = replace(batch, cancel_ms=np.array([o.cancel_ms], np.int64))
    seen: list[Fill] = []
    for index, event in enumerate(row.events):
        result = fills.match(batch, _market(event, o, params), params)
        if result.amount[0] > 0:
            levels = [
                (float(p), round(float(a), 10))
                for p, a in zip(result.level_price[0], result.level_amount[0])
                if a > 0
            ]
            seen.append((index, levels, int(result.liquidity[0]), float(result.fee[0])))
        if result.done[0]:
            return seen, "canceled" if result.canceled[0] else "filled"
        batch, _ = fills.advance(batch, result)
    return seen, "open"


@pytest.mark.parametrize("row", ROWS, ids=[r.rule for r in ROWS])
def test_fill_rule(row: Row) -> None:
    seen, end = run(row)
    assert len(seen) == len(row.fills), seen
    for (index, levels, liquidity, fee), expected in zip(seen, row.fills):
        e_index, e_levels, e_liquidity, e_fee = expected
        assert index == e_index
        assert [p for p, _ in levels] == pytest.approx([p for p, _ in e_levels])
        assert [a for _, a in levels] == pytest.approx([a for _, a in e_levels])
        assert liquidity == e_liquidity
        assert fee == pytest.approx(e_fee)
    assert end == row.end
