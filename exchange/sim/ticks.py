"""Intra-bar ticks synthesized from one closed bar alone.

The path visits open -> low -> high -> close when the bar closed up (close >= open) and
open -> high -> low -> close otherwise, sampled at `ticks_per_bar` evenly spaced points
(4 points hit exactly the four waypoints). Nothing here looks at a later bar, so a strategy
fed these ticks cannot peek at the future. The only randomness (spread and size noise) comes
from a generator seeded by (seed, minute index), drawn for every symbol of the market, so the
ticks of a symbol in minute m depend on bar m and nothing else.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from exchange.sim.bars import IntraTicks, MinuteBars, MinuteBlock
from exchange.sim.seeded_noise import seeded_normal_block
from exchange.sim.tick_block_kernel import tick_block_table
from model import libm
from model.market import MINUTE_MS

SPREAD_RANGE_WIDENING = 100.0  # spread grows with the bar's relative range: busy = wide
BOOK_SHARE_OF_BAR_VOLUME = 0.08  # typical best-level size as a share of the minute's volume


def round_to_grid(values: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Nearest multiple of `step` (per column), as a float."""
    return np.round(values / step) * step


def floor_to_grid(values: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Largest multiple of `step` not above `values`, tolerant of float noise."""
    return np.floor(values / step + 1e-9) * step


def path_positions(ticks_per_bar: int) -> np.ndarray:
    """Where along the 3-leg open/extreme/extreme/close path each tick lies, in [0, 1]."""
    if ticks_per_bar == 1:
        return np.ones(1)
    return np.linspace(0.0, 1.0, ticks_per_bar)


def synthesize_ticks(
    bars: MinuteBars,
    tick_size: np.ndarray,
    lot_size: np.ndarray,
    spread_bps: np.ndarray,
    ticks_per_bar: int,
    seed: int,
) -> IntraTicks:
    """Ticks of one minute for the symbols in `bars` (per-symbol arrays are indexed by
    `bars.index` into the market's full symbol list)."""
    n_all = tick_size.shape[0]
    idx = bars.index
    rng = np.random.default_rng([seed, bars.open_ms // MINUTE_MS])
    noise = [libm.exp(scale * rng.standard_normal((ticks_per_bar, n_all)))[:, idx]
             for scale in NOISE_SCALES]
    fields = _tick_fields(bars.open, bars.high, bars.low, bars.close, bars.volume, bars.trades,
                          tick_size[idx], lot_size[idx], spread_bps[idx], noise, ticks_per_bar)
    steps = np.arange(ticks_per_bar, dtype=np.int64)
    ts_event = bars.open_ms + ((2 * steps + 1) * MINUTE_MS) // (2 * ticks_per_bar)
    last = fields["last"]
    return IntraTicks(
        ts_event=ts_event,
        volume_done=np.broadcast_to(((steps + 1) / ticks_per_bar)[:, None], last.shape).copy(),
        **fields,
    )


#: The spread, bid size, ask size and trade size noise: exp(scale * N(0, 1)), in this order.
NOISE_SCALES = (0.3, 0.6, 0.6, 0.5)
_NOISE_SCALES = np.array(NOISE_SCALES)


def _tick_fields(
    o: np.ndarray, h: np.ndarray, l: np.ndarray, c: np.ndarray,  # noqa: E741  OHLC
    volume: np.ndarray, trades: np.ndarray, tick: np.ndarray, lot: np.ndarray,
    bps: np.ndarray, noise: list[np.ndarray], ticks_per_bar: int,
) -> dict[str, np.ndarray]:
    """last, bid, ask and the sizes [..., K, n] of bars [..., n] (one minute, or a block of
    minutes in front), every cell from its own bar and noise alone: the same numbers
    whichever cells are computed together."""
    spread_noise, bid_noise, ask_noise, qty_noise = noise
    up = c >= o
    waypoints = np.stack([o, np.where(up, l, h), np.where(up, h, l), c], axis=-2)  # (..., 4, n)
    position = path_positions(ticks_per_bar) * 3.0
    leg = np.minimum(position.astype(np.int64), 2)
    frac = (position - leg)[:, None]
    start, end = waypoints[..., leg, :], waypoints[..., leg + 1, :]
    low, high = l[..., None, :], h[..., None, :]
    last = np.clip(round_to_grid(start + frac * (end - start), tick), low, high)

    previous = np.concatenate([o[..., None, :], last[..., :-1, :]], axis=-2)
    relative_range = (h - l) / np.maximum(c, 1e-300)
    spread_price = c * bps * 1e-4 * (1.0 + SPREAD_RANGE_WIDENING * relative_range)
    spread_ticks = np.maximum(1.0, np.round(spread_price[..., None, :] * spread_noise / tick))
    spread = spread_ticks * tick
    buyer_initiated = last >= previous  # an up-tick trades at the ask
    bid = np.where(buyer_initiated, last - spread, last)
    bid = np.where(bid <= 0, last, bid)
    ask = round_to_grid(bid + spread, tick)
    bid = round_to_grid(bid, tick)

    book = volume[..., None, :] * BOOK_SHARE_OF_BAR_VOLUME
    bid_qty = np.maximum(lot, floor_to_grid(book * bid_noise, lot))
    ask_qty = np.maximum(lot, floor_to_grid(book * ask_noise, lot))
    per_trade = volume[..., None, :] / np.maximum(trades, 1)[..., None, :]
    last_qty = np.maximum(lot, floor_to_grid(per_trade * qty_noise, lot))
    return {"last": last, "bid": bid, "ask": ask, "bid_qty": bid_qty, "ask_qty": ask_qty,
            "last_qty": last_qty}


#: The synthesized tick fields, in `TickBlock.table`'s order.
TICK_FIELDS = ("last", "bid", "ask", "bid_qty", "ask_qty", "last_qty")


@dataclass(frozen=True, slots=True)
class TickBlock:
    """The ticks of consecutive minutes for every symbol of the market, traded or not
    (`synthesize_tick_block`); `minute(b, index)` is `synthesize_ticks` of minute b."""

    first_open_ms: int
    ticks_per_bar: int
    table: np.ndarray  # [B, TICK_FIELDS, K, n_all]: a minute's fields gathered in one call
    times: np.ndarray  # int64 [B, K]: each minute's tick times

    def __len__(self) -> int:
        return int(self.table.shape[0])

    def minute(self, b: int, index: np.ndarray) -> IntraTicks:
        """Minute b's ticks of the symbols `index` (those that traded): views of the block
        where every symbol traded, else fresh arrays; the volume shares are shared by every
        minute of as many symbols. Nothing writes a minute's ticks but a test's altered
        source (which changes that minute's cells only, read for that minute only)."""
        done = _tick_columns(self.ticks_per_bar, len(index))[1]
        # (fields, K, n), each field contiguous, in TICK_FIELDS' order (a minute's call: no
        # keyword dict built and spread). `index` is ascending and distinct, so when every
        # symbol traded it is all of them: the minute's own cells, as they are.
        minute = self.table[b]
        fields = minute if len(index) == minute.shape[-1] else minute.take(index, axis=-1)
        return IntraTicks(self.times[b], fields[0], fields[1], fields[2], fields[3], fields[4],
                          fields[5], done)


@functools.cache
def _tick_columns(ticks_per_bar: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """(tick times after the minute's open, the volume share done at each tick of each of
    `columns` symbols: `_tick_steps`' repeated per column); shared by every minute of that
    many symbols: read them, never write (nothing writes a minute's ticks)."""
    offsets_ms, done = _tick_steps(ticks_per_bar)
    return offsets_ms, np.repeat(done[:, None], columns, axis=1)


@functools.cache
def _tick_steps(ticks_per_bar: int) -> tuple[np.ndarray, np.ndarray]:
    """(tick times after the minute's open, volume share done at each tick), as
    `synthesize_ticks` computes them; shared: read them, never write."""
    steps = np.arange(ticks_per_bar, dtype=np.int64)
    return ((2 * steps + 1) * MINUTE_MS) // (2 * ticks_per_bar), (steps + 1) / ticks_per_bar


def synthesize_tick_block(
    block: MinuteBlock,
    tick_size: np.ndarray,
    lot_size: np.ndarray,
    spread_bps: np.ndarray,
    ticks_per_bar: int,
    seed: int,
) -> TickBlock:
    """`synthesize_ticks` of every minute of `block` for every symbol, in one pass of array
    calls instead of one per minute (each minute still draws its own seeded noise): the
    replay's per-minute cost. Cells of symbols that did not trade are computed and unused."""
    minutes, n_all = block.traded.shape
    keys = block.first_open_ms // MINUTE_MS + np.arange(minutes, dtype=np.int64)
    # Each minute's own `default_rng([seed, minute])`, drawn without being built
    # (exchange/sim/seeded_noise.py); one draw for the four scales: the same numbers, in
    # the same order, as four draws.
    noise = seeded_normal_block(seed, keys, (len(NOISE_SCALES), ticks_per_bar, n_all))
    fields = block.fields
    table = np.empty((minutes, len(TICK_FIELDS), ticks_per_bar, n_all))
    position = path_positions(ticks_per_bar) * 3.0
    leg = np.minimum(position.astype(np.int64), 2)
    # `tick_table`, compiled (exchange/sim/tick_block_kernel.py).
    tick_block_table(table, fields["open"], fields["high"], fields["low"], fields["close"],
                     fields["volume"], block.trades, tick_size, lot_size, spread_bps, noise,
                     _NOISE_SCALES, leg, position - leg, SPREAD_RANGE_WIDENING,
                     BOOK_SHARE_OF_BAR_VOLUME)
    offsets_ms = _tick_steps(ticks_per_bar)[0]
    times = (block.first_open_ms + np.arange(minutes, dtype=np.int64)[:, None] * MINUTE_MS
             + offsets_ms)
    return TickBlock(block.first_open_ms, ticks_per_bar, table, times)


def tick_table(fields: dict[str, np.ndarray], trades: np.ndarray, tick_size: np.ndarray,
               lot_size: np.ndarray, spread_bps: np.ndarray, noise: np.ndarray,
               ticks_per_bar: int) -> np.ndarray:
    """The ticks (minutes, TICK_FIELDS, ticks, symbols) of a block's bars (`fields`,
    `trades`: minutes, symbols) with the standard normal draws `noise` (minutes,
    NOISE_SCALES, ticks, symbols): the array form, definition of the compiled
    `tick_block_kernel.tick_block_table` that `synthesize_tick_block` calls."""
    scaled = [libm.exp(scale * noise[:, k]) for k, scale in enumerate(NOISE_SCALES)]
    with np.errstate(all="ignore"):  # cells without a bar hold zeros
        ticks = _tick_fields(fields["open"], fields["high"], fields["low"], fields["close"],
                             fields["volume"], trades, tick_size, lot_size, spread_bps,
                             scaled, ticks_per_bar)
    return np.stack([ticks[name] for name in TICK_FIELDS], axis=1)
