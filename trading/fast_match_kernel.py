"""One row's open orders against their bars in one compiled call: the fast account's match.

`FastAccount.match_bars` met a row's bars through `model.fills.market_from_bars` (the book
a bar is given) and `model.fills.match` (the fill model), a dozen small numpy arrays and
two dispatches for the one or two orders a row usually has. `match_row` does both for
every order in one pass, with the fill model's own per-order function
(`model.fill_kernel.match_order`) and the same book: bid = open, ask = open + the spread
in whole ticks (`fill_kernel.spread_width`, the compiled twin of `model.costs.spread_ticks`,
never below `bar_spread_ticks`), each side `bar_book_share` of the bar's volume. The same
IEEE operations on the same values, so the same bits; tests/unit/test_fast_match_kernel.py
holds it to the array form (the definition) on random orders and bars.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from model.fill_kernel import BAR_LAST_MS, bar_book, match_order, spread_width

jit = njit(cache=True, error_model="numpy", nogil=True)

#: sha256 (first 16 hex) of model/fill_kernel.py, whose functions `match_row` compiles in:
#: numba's on-disk cache judges a function fresh by its own file's stamp only, so after a
#: change there a cached `match_row` would fill by the old rules. Updating this line
#: changes this file, which retires the stale cache; tests/unit/test_fast_match_kernel.py
#: fails until it is updated.
INLINED_SOURCES_SHA256 = "e595717b7594134c"

#: Columns of `match_row`'s order table (float64; columns, sides and times are exact).
COLUMN, SIDE, PRICE, REMAINING, QUEUE, PLACED_MS, BUDGET, TICK, LOT, BOOK_TICK = range(10)
ORDER_COLUMNS = 10


@jit
def match_row(orders: np.ndarray, open_ms: int, open_: np.ndarray, high: np.ndarray,
              low: np.ndarray, close: np.ndarray, volume: np.ndarray, spread: np.ndarray,
              has_spread: bool, bar_spread_ticks: float, book_share: float,
              max_volume_share: float, through_volume_share: float, maker_fee_bps: float,
              taker_fee_bps: float, levels: int, growth: float, powers: np.ndarray,
              spacing: int, no_cancel_ms: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                         np.ndarray]:  # pragma: no cover - compiled
    """Each order of `orders` [k, ORDER_COLUMNS] (a limit order resting or new, no cancel
    requested) against the bar of its grid column in one row (`open_` ... `volume`: the
    row's columns; `spread`: each column's relative spread, read when `has_spread`); a
    bar's book priced at the order's `BOOK_TICK`. Returns (liquidity, level prices, level
    amounts, queue ahead after, canceled), as `fills.match`'s `FillArrays` columns."""
    k = orders.shape[0]
    liquidity = np.zeros(k, np.int8)
    level_price = np.zeros((k, levels))
    level_amount = np.zeros((k, levels))
    queue_after = np.zeros(k)
    canceled = np.zeros(k, np.bool_)
    scratch = np.empty(levels)
    for i in range(k):
        c = int(orders[i, COLUMN])
        o, v, book_tick = open_[c], volume[c], orders[i, BOOK_TICK]
        width = (spread_width(spread[c], o, book_tick, bar_spread_ticks) if has_spread
                 else bar_spread_ticks)
        bid, ask, bid_qty, ask_qty = bar_book(o, v, book_tick, width, book_share)
        result = match_order(
            int(orders[i, SIDE]), False, orders[i, PRICE], orders[i, REMAINING],
            orders[i, QUEUE], int(orders[i, PLACED_MS]), no_cancel_ms, orders[i, BUDGET],
            orders[i, TICK], orders[i, LOT], True, open_ms, open_ms + BAR_LAST_MS, o,
            high[c], low[c], close[c], v, bid, ask, bid_qty, ask_qty, max_volume_share,
            through_volume_share, maker_fee_bps, taker_fee_bps, levels, growth, powers,
            spacing, level_price[i], level_amount[i], scratch)
        liquidity[i] = result[3]
        queue_after[i] = result[5]
        canceled[i] = result[6]
    return liquidity, level_price, level_amount, queue_after, canceled
