"""A steady synthetic market whose resting-order fill rates are known by hand, as a trade
tape and its 1m bars in the ../shared/data CSV formats.

Every minute a seller hits the bid (100.00, 10 units, 1 s in) and a buyer lifts the ask
(100.01, 10 units, 2 s in): the touch never moves, no taker sweeps two levels. So an
order of 5 at the touch, at the front of the queue (the tape shows no sweep to say
otherwise), fills completely within its first minute on the tape; the fill model's bar
(open 100.00, low 100.00, high 100.01, close 100.01, volume 20) has 10 at each price, so it
fills `max_volume_share` x 10 per minute: 1 of 5 under the defaults, all of it at 0.5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.fill_kernel import BUY, SELL
from model.tape_compare import Bars
from model.tape_fills import Tape, make_tape

START_MS = 1_700_000_040_000 - 1_700_000_040_000 % 60_000
BID, ASK, TAKER_AMOUNT = 100.0, 100.01, 10.0
ORDER_AMOUNT = 5.0
PAIR = "AAA_BBB"


def steady_tape(minutes: int = 20) -> Tape:
    """The steady market's trades."""
    ts = np.ravel([[START_MS + m * 60_000 + 1_000, START_MS + m * 60_000 + 2_000]
                   for m in range(minutes)])
    return make_tape(ts, np.tile([BID, ASK], minutes), np.full(2 * minutes, TAKER_AMOUNT),
                     np.tile([SELL, BUY], minutes))


def steady_bars(minutes: int = 20) -> Bars:
    """The steady market's 1m bars."""
    n = minutes
    return Bars(START_MS + 60_000 * np.arange(n, dtype=np.int64), np.full(n, BID),
                np.full(n, ASK), np.full(n, BID), np.full(n, ASK), np.full(n, 2 * TAKER_AMOUNT))


def write_steady_market(folder: Path, minutes: int = 20) -> tuple[Path, Path]:
    """`AAA_BBB-trades.csv` and `bars/AAA_BBB-1m.csv` of the steady market: (tape, bar dir)."""
    tape, bars = steady_tape(minutes), steady_bars(minutes)
    trades = folder / f"{PAIR}-trades.csv"
    rows = [f"{t},{i},{p:.2f},{a:g},{'buy' if s == BUY else 'sell'}" for i, (t, p, a, s)
            in enumerate(zip(tape.ts_ms, tape.price, tape.amount, tape.taker_side, strict=True))]
    trades.write_text("timestamp_ms,trade_id,price,amount,side\n" + "\n".join(rows) + "\n")
    bar_dir = folder / "bars"
    bar_dir.mkdir(exist_ok=True)
    lines = [f"{t},{o:.2f},{h:.2f},{lo:.2f},{c:.2f},{v:g}" for t, o, h, lo, c, v
             in zip(bars.open_ms, bars.open, bars.high, bars.low, bars.close, bars.volume,
                    strict=True)]
    (bar_dir / f"{PAIR}-1m.csv").write_text(
        "timestamp_ms,open,high,low,close,volume\n" + "\n".join(lines) + "\n")
    return trades, bar_dir
