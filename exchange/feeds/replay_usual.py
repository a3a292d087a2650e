"""The replay feed's usual minute: its ticker arrays and closed klines made, read back and
judged in one compiled call (exchange/feeds/usual_minute_kernel.py).

The direct path (exchange/feeds/replay_direct.py) yields a minute's frames one by one and
the feed judges each (`ReplayFeed._deliver_arrays`, `_deliver_bars`): some twenty Python
calls and eight compiled ones for a minute that almost always is the usual one: every
symbol traded, followed and valid, every number plain, every row passing the parser and
the feed edge. Here that minute is one call: its ticker arrays (made, read back from their
8-decimal strings, judged by the parser and the edge), then, only if they are the usual
ones, its close's stores and its klines (the kline table read back, judged by the parser
and the edge's value checks). Anything else is left to the direct path, from a point where
nothing has been judged or delivered yet, so it happens exactly as it did: `tickers`
answers None before it changes anything but the minute's start (which the direct path
repeats, to the same state), and `close` answers None after the close (which the direct
path's `klines` reads, as it does after `finish_from_last_tick`). The close's stores into
the market state's quote arrays come before the ticker arrays' callback rather than after
it; the clock and everything else of the close after it, as before (nothing a replay's
consumer can reach reads those arrays).

The contract, tests/unit/test_replay_direct.py: the same callbacks, bit for bit, as the
wire path and as the direct path minute by minute, on clean and on corrupted markets.
"""

from __future__ import annotations

import numpy as np

import exchange.sim.protocol as protocol
from exchange.feeds.binance_event_parse import MAX_TS_MS
from exchange.feeds.replay_direct import DirectFrames
from exchange.feeds.sanity import FrameValidator
from exchange.feeds.sanity_rules import MAX_AMOUNT, MAX_PRICE
from exchange.feeds.usual_minute_kernel import USUAL, usual_minute
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
        # What `tickers` made for `close`: the kline rows and the close's running high, low
        # and volume done (9, columns), the trade counts, whether the klines are plain.
        self._closing: tuple[np.ndarray, np.ndarray, bool] = (np.empty((9, 0)),
                                                              np.empty(0, np.int64), False)

    def tickers(self, data: MinuteData) -> TickArrays | None:
        """Start the minute; its ticker arrays as the one TickArrays the direct path would
        yield, already admitted by the edge (`admit_arrays`: its newest time taken) with the
        clock at the last array; or None, having only started the minute, when the minute
        is not the usual one. The same call makes the close's stores into the market
        state's quote arrays and judges the klines (`close` finishes the close): nothing
        reads those arrays before the close but a REST request, which a replay has none
        of while its consumer takes the arrays."""
        player = self._player
        bars, ticks = data.bars, data.ticks
        # `player.begin`, but for the running high, low and volume done, which the close
        # makes (`close`); a minute that is not the usual one begins again, in full.
        player.state.begin_minute(bars, running=False)
        index, times = bars.index, ticks.ts_event
        n = len(index)
        if not n or not len(times):
            return None
        validator = self._validator
        newest, future = validator.newest_ms, validator.max_future_ms
        if not (0 <= newest <= _LIMIT_SPAN and -_LIMIT_SPAN <= future <= _LIMIT_SPAN):
            return None
        symbols = self._direct.columns_of(index)[0]
        lo, hi = validator.bound_columns(symbols)
        state = player.state
        window_volume, window_quote, lot = state.ticker_volumes()
        table = np.empty((len(times), 7, n))
        closing = np.empty((9, n))
        trades = np.empty(n, dtype=np.int64)
        status, latest, klines = usual_minute(
            table, closing, trades, ticks.last, ticks.bid, ticks.ask, ticks.bid_qty,
            ticks.ask_qty, ticks.last_qty, ticks.volume_done, times, bars.open, bars.high,
            bars.low, bars.close, bars.volume, bars.quote_volume, bars.trades, index,
            window_volume, window_quote, lot, state.ts_ms, state.last_qty, state.bid,
            state.ask, state.bid_qty, state.ask_qty, state.last, self._exact_from,
            self._doubt, MAX_TS_MS, MAX_PRICE, newest, future, lo, hi, MAX_AMOUNT)
        if status != USUAL:
            return None
        validator.newest_ms = max(newest, latest)
        player.now_ms = int(times[-1])
        self._closing = closing, trades, klines == USUAL
        return TickArrays(symbols, times, table)

    def close(self, data: MinuteData, symbols: tuple[str, ...]) -> tuple[int, BarBatch | None]:
        """Close the minute `tickers` gave arrays for (`finish_from_last_tick`'s state and
        clock): (its close time, its closed klines as the BarBatch the direct path would
        yield, every row passing the parser and the edge's value checks; or None when any
        might not: then the direct path's `klines` gives them). `symbols`: the minute's,
        as `tickers` gave them."""
        player = self._player
        closing, trades, plain = self._closing
        player.state.closed_with(closing[6], closing[7], closing[8])
        open_ms = int(data.bars.open_ms)
        close_ms = player.closed_until_ms = player.now_ms = open_ms + MINUTE_MS
        if not (plain and open_ms % MINUTE_MS == 0 and 0 <= open_ms <= MAX_TS_MS):
            return close_ms, None
        return close_ms, BarBatch(symbols, open_ms, closing[0], closing[1], closing[2],
                                  closing[3], closing[4], closing[5], trades)
