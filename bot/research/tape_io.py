"""Read a trade tape, a quote table and the tape's 1m bars from the shared CSV formats, and
set up the tape-against-model comparison of resting-order fill rates (model/tape_compare.py).

Formats (../shared/data/README.md, "Trades, quotes, books"):
* trades: `timestamp_ms,trade_id,price,amount,side` (side = the taker's, buy or sell);
* quotes: `timestamp_ms,bid,bid_size,ask,ask_size`;
* bars: `<BASE>_<QUOTE>-1m.csv[.gz]` with `timestamp_ms,open,high,low,close,volume`, the
  pair taken from the tape's name (`XRP_ETH-trades.csv.gz`).
Every refusal names the file and what to fix; nothing is half-loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from model.costs import SPREAD_SOURCES
from model.fill_kernel import BUY, SELL
from model.fills import FillParams
from model.tape_compare import Bars, bars_from_tape, judged_spread, model_market
from model.tape_fills import (
    Quotes,
    Tape,
    TapeError,
    Touch,
    TouchOrders,
    grid_step,
    make_tape,
    orders_at_touch,
    revealed_touch_sizes,
    touch_from_quotes,
    touch_from_tape,
)
from model.tape_ticks import EVENTS, TickMarket, tick_market

TRADE_COLUMNS = ("timestamp_ms", "price", "amount", "side")
QUOTE_COLUMNS = ("timestamp_ms", "bid", "bid_size", "ask", "ask_size")
BAR_COLUMNS = ("timestamp_ms", "open", "high", "low", "close", "volume")
MINUTE_MS = 60_000
_PAIR = re.compile(r"^([A-Za-z0-9]+_[A-Za-z0-9]+)-")


def _read(path: Path, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    """The named columns of a CSV, or a TapeError saying which are missing."""
    if not path.is_file():
        raise TapeError(f"{path}: no such file; give the path of a {what} CSV")
    try:
        frame = pd.read_csv(path)
    except (ValueError, OSError, EOFError) as exc:
        raise TapeError(f"{path}: cannot read it as CSV ({exc})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TapeError(f"{path}: missing column(s) {', '.join(missing)}; a {what} file has "
                        f"columns {','.join(columns)}")
    if frame.empty:
        raise TapeError(f"{path}: no rows (only a header); give a {what} file with data")
    numeric = [c for c in columns if c != "side"]
    if frame[numeric].isna().any().any() or not all(
            pd.api.types.is_numeric_dtype(frame[c]) for c in numeric):
        raise TapeError(f"{path}: columns {','.join(numeric)} must all hold numbers")
    return frame.sort_values("timestamp_ms", kind="stable")


def read_tape(path: Path) -> Tape:
    """A trade tape; the side column holds the taker's side, `buy` or `sell`."""
    frame = _read(path, TRADE_COLUMNS, "trades")
    side = frame["side"].astype(str).str.lower()
    if not side.isin(("buy", "sell")).all():
        raise TapeError(f"{path}: column side must be buy or sell (the taker's side) on "
                        "every row")
    return make_tape(frame["timestamp_ms"].to_numpy(np.int64), frame["price"].to_numpy(float),
                     frame["amount"].to_numpy(float), np.where(side == "buy", BUY, SELL))


def read_quotes(path: Path) -> Quotes:
    """Best bid and ask with sizes."""
    frame = _read(path, QUOTE_COLUMNS, "quotes")
    return Quotes(frame["timestamp_ms"].to_numpy(np.int64),
                  *(frame[c].to_numpy(float) for c in QUOTE_COLUMNS[1:]))


def read_bars(folder: Path, tape_path: Path) -> Bars:
    """The 1m bars of the tape's pair from `folder`."""
    match = _PAIR.match(tape_path.name)
    if match is None:
        raise TapeError(f"{tape_path.name}: cannot tell the pair from the name; name the tape "
                        "<BASE>_<QUOTE>-trades.csv[.gz] to use --bars")
    candidates = [folder / f"{match.group(1)}-1m.csv{ext}" for ext in (".gz", "")]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise TapeError(f"{folder}: no {candidates[0].name} (or .csv); --bars needs the "
                        "tape's pair in 1m bars")
    frame = _read(path, BAR_COLUMNS, "1m bars")
    return Bars(frame["timestamp_ms"].to_numpy(np.int64),
                *(frame[c].to_numpy(float) for c in BAR_COLUMNS[1:]))


@dataclass(frozen=True, slots=True)
class Setup:
    """Everything the comparison needs, and how its assumptions were made."""

    tape: Tape
    bars: Bars
    orders: TouchOrders
    tick: float
    lot: float
    amount: float
    touch_from: str  # "quotes", "tape" or "the model's (bar open)"
    queue_from: str  # "quotes", or the assumed (bid, ask) queue in words
    spread: float | None  # the relative spread the model's touch is priced with; None: 1 tick
    ticks: TickMarket | None = None  # the model meets the orders on the tape's ticks


def setup(tape: Tape, quotes: Quotes | None, bars: Bars | None, bar_ms: int,
          horizons_ms: tuple[int, ...], amount: float | None, at_bar_open: bool = False,
          params: FillParams | None = None, spread_from: str = "estimated",
          events: str = "bars") -> Setup:
    """Bars (given, or built from the tape), placement times (bar opens whose whole longest
    horizon the tape covers), the touch and queue (quotes, else the tape: see
    model/tape_fills.py) and one buy and one sell at each time. The model's touch is priced
    with the spread a backtest would use (`spread_from` "estimated": model/costs.py on the
    bars before the judged half) or one tick ("fixed"). `at_bar_open`: the tape's orders
    rest where the fill model puts its own (bid = the bar's open, ask = open + that spread),
    with the sweep-revealed queue, so the two differ only in how they fill, not in where
    the orders stand. `events` "ticks": the model meets the orders on the tape's ticks with
    the same touch (model/tape_ticks.py) instead of on bars: how they fill, the touch
    known."""
    if events not in EVENTS:
        raise TapeError(f"the model's events are one of {', '.join(EVENTS)}, got {events!r}")
    if events == "ticks" and at_bar_open:
        raise TapeError("--at-bar-open puts the orders where the bar model rests its own; on "
                        "ticks the model meets them at the real touch: give one or the other")
    if spread_from not in SPREAD_SOURCES:
        raise TapeError(f"the spread is one of {', '.join(SPREAD_SOURCES)}, got {spread_from!r}")
    if any(h <= 0 or h % bar_ms for h in horizons_ms):
        raise TapeError(f"every horizon must be a whole number of bars ({bar_ms / 1000:g} s): "
                        f"got {', '.join(f'{h / MINUTE_MS:g} min' for h in horizons_ms)}")
    tick, lot = grid_step(tape.price), grid_step(tape.amount)
    if bars is None:
        bars = bars_from_tape(tape, bar_ms)
    longest = max(horizons_ms)
    in_tape = (bars.open_ms >= tape.ts_ms[0]) & (bars.open_ms + longest <= tape.ts_ms[-1] + 1)
    placed = bars.open_ms[in_tape]
    size = float(np.median(tape.amount)) if amount is None else amount
    spread: float | None = None
    touch: Touch
    if quotes is not None and not at_bar_open:
        touch, queue, queue_from = touch_from_quotes(quotes, placed), None, "quotes"
    else:
        touch = touch_from_tape(tape, placed, tick)
        if at_bar_open:  # every open is a touch: the orders' times are `placed`
            spread = judged_spread(bars, placed) if spread_from == "estimated" else None
            market = model_market(bars, params or FillParams(), tick, spread)
            touch = Touch(market.bid[in_tape], market.ask[in_tape], touch.bid_size,
                          touch.ask_size)
        queue = (_median_or_zero(revealed_touch_sizes(tape, SELL)),
                 _median_or_zero(revealed_touch_sizes(tape, BUY)))
        queue_from = (f"assumed: bid {queue[0]:g}, ask {queue[1]:g} (median touch size "
                      "revealed by multi-level sweeps in the tape)")
    orders = orders_at_touch(placed, touch, size, queue)
    if len(orders) == 0:
        raise TapeError(
            f"no order could be placed: the tape ({len(tape)} trades) must cover a horizon of "
            f"{longest / MINUTE_MS:g} min after a bar open with the touch known; give a longer "
            "tape or a shorter --horizon-min")
    if spread_from == "estimated" and not at_bar_open:
        spread = judged_spread(bars, orders.placed_ms)
    touch_from = ("the model's (bar open)" if at_bar_open
                  else "quotes" if quotes is not None else "tape")
    ticks = (tick_market(tape, orders.placed_ms, tick, queue, quotes) if events == "ticks"
             else None)
    return Setup(tape, bars, orders, tick, lot, size, touch_from, queue_from, spread, ticks)


def _median_or_zero(sizes: np.ndarray) -> float:
    """The median, or 0 (the front of the queue) when the tape shows no sweep at all."""
    return float(np.median(sizes)) if sizes.shape[0] else 0.0
