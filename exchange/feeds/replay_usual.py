"""The replay feed's usual minute: its ticker arrays and closed klines made, read back and
judged in two compiled calls (exchange/feeds/usual_minute_kernel.py).

The direct path (exchange/feeds/replay_direct.py) yields a minute's frames one by one and
the feed judges each (`ReplayFeed._deliver_arrays`, `_deliver_bars`): some twenty Python
calls and eight compiled ones for a minute that almost always is the usual one: every
symbol traded, followed and valid, every number plain, every row passing the parser and
the feed edge. Here that minute is one call for its ticker arrays (made, read back from
their 8-decimal strings, judged by the parser and the edge) and one for its close and
klines (the close's stores, the kline table read back, judged by the parser and the
edge's value checks). Anything else is left to the direct path, from a point where
nothing has been judged or delivered yet, so it happens exactly as it did: `tickers`
answers None before it changes anything but the minute's start (which the direct path
repeats, to the same state), and `close` answers None after the close (which the direct
path's `klines` reads, as it does after `finish_from_last_tick`).

The contract, tests/unit/test_replay_direct.py: the same callbacks, bit for bit, as the
wire path and as the direct path minute by minute, on clean and on corrupted markets.
"""

from __future__ import annotations

import numpy as np

import exchange.sim.protocol as protocol
from exchange.feeds.binance_parse import MAX_TS_MS
from exchange.feeds.replay_direct import DirectFrames
from exchange.feeds.sanity import MAX_AMOUNT, MAX_PRICE, FrameValidator
from exchange.feeds.usual_minute_kernel import USUAL, close_minute, ticker_minute
from exchange.sim.bars import MinuteData
from exchange.sim.player import MinutePlayer
from model.market import MINUTE_MS, BarBatch, TickArrays

__all__ = ["UsualMinute"]

#: `FrameValidator.admit_arrays`' guard on the limits the kernel makes in int64.
_LIMIT_SPAN = 2**62


class UsualMinute:
    """A replay feed's usual minute, in two steps around its ticker arrays' callback:
    `tickers` (judged and admitted arrays, or None) then `close` (judged klines, or None)."""

    def __init__(self, player: MinutePlayer, direct: DirectFrames,
                 validator: FrameValidator) -> None:
        """Only for a feed that follows every symbol of the market, each valid
        (`direct.plain_symbols`), with ticker arrays and bar batches (the caller's check)."""
        self._player, self._direct, self._validator = player, direct, validator
        self._exact_from, self._doubt = protocol.NUM_EXACT_FROM, protocol.NUM_DOUBT

    def tickers(self, data: MinuteData) -> TickArrays | None:
        """Start the minute; its ticker arrays as the one TickArrays the direct path would
        yield, already admitted by the edge (`admit_arrays`: its newest time taken) with the
        clock at the last array; or None, having only started the minute, when the minute
        is not the usual one."""
        player = self._player
        player.begin(data)
        bars, ticks = data.bars, data.ticks
        index, times = bars.index, ticks.ts_event
        if not len(index) or not len(times):
            return None
        validator = self._validator
        newest, future = validator.newest_ms, validator.max_future_ms
        if not (0 <= newest <= _LIMIT_SPAN and -_LIMIT_SPAN <= future <= _LIMIT_SPAN):
            return None
        symbols = self._direct.columns_of(index)[0]
        lo, hi = validator.bound_columns(symbols)
        window_volume, window_quote, lot = player.state.ticker_volumes()
        table = np.empty((len(times), 7, len(index)))
        status, latest = ticker_minute(
            table, ticks.last, ticks.bid, ticks.ask, ticks.bid_qty, ticks.ask_qty,
            ticks.volume_done, bars.volume, bars.quote_volume, window_volume, window_quote,
            lot, index, times, self._exact_from, self._doubt, MAX_TS_MS, newest, future, lo,
            hi, MAX_AMOUNT)
        if status != USUAL:
            return None
        validator.newest_ms = max(newest, latest)
        player.now_ms = int(times[-1])
        return TickArrays(symbols, times, table)

    def close(self, data: MinuteData, symbols: tuple[str, ...]) -> tuple[int, BarBatch | None]:
        """Close the minute (`finish_from_last_tick`): (its close time, its closed klines as
        the BarBatch the direct path would yield, every row passing the parser and the
        edge's value checks; or None when any might not: then the direct path's `klines`
        gives them). `symbols`: the minute's, as `tickers` gave them."""
        player, state = self._player, self._player.state
        bars, ticks = data.bars, data.ticks
        n = len(symbols)
        values = np.empty((6, n))
        trades = np.empty(n, dtype=np.int64)
        run_high, run_low, done = np.empty(n), np.empty(n), np.empty(n)
        lo, hi = self._validator.bound_columns(symbols)
        status = close_minute(
            values, trades, run_high, run_low, done, bars.index, ticks.ts_event,
            ticks.last_qty, ticks.bid, ticks.ask, ticks.bid_qty, ticks.ask_qty, bars.open,
            bars.high, bars.low, bars.close, bars.volume, bars.quote_volume, bars.trades,
            state.ticker_volumes()[2], state.ts_ms, state.last_qty, state.bid, state.ask,
            state.bid_qty, state.ask_qty, state.last, self._exact_from, self._doubt,
            MAX_PRICE, lo, hi, MAX_AMOUNT)
        state.closed_with(run_high, run_low, done)
        open_ms = int(bars.open_ms)
        close_ms = player.closed_until_ms = player.now_ms = open_ms + MINUTE_MS
        if status != USUAL or not (open_ms % MINUTE_MS == 0 and 0 <= open_ms <= MAX_TS_MS):
            return close_ms, None
        return close_ms, BarBatch(symbols, open_ms, values[0], values[1], values[2],
                                  values[3], values[4], values[5], trades)
