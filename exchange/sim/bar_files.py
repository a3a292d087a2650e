"""Bar files of any timeframe, checked and put on one grid for research and backtests.

A folder holds `<BASE>_<QUOTE>-<timeframe>.csv[.gz]` files with columns
`timestamp_ms,open,high,low,close,volume` (the ../shared/data/ohlcv and `entasis download`
format; timestamp = bar open, UTC ms); the timeframe comes from the file name. A bar absent
from a file is absent from the grid (NaN): Bittrex and Upbit leave out no-trade bars, and a
missing Binance bar is an outage; neither is faked.

Unlike the 1m replay (`exchange.sim.replay`), which quietly drops rows it cannot place, this
loader refuses a file it cannot trust and names it: unsorted or repeated timestamps, bars
closer or further apart than the name says (a 5m file named -1h), bars off the timeframe's
grid, an empty file, a folder mixing timeframes when none was asked for. It returns a grid
or raises; nothing is half-loaded.

Prices and volumes go through the replay's own rounding (the tick and lot inferred from the
data, prices at least one tick, high/low around open and close), so a 1m folder gives the
grid `replay.load_grid` gives, to the bit, and a backtest on the grid sees the prices the
simulated exchange would fill at. On exchange data, already on its ticks, the rounding only
removes float noise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from exchange.sim.replay import COLUMNS, infer_instrument
from exchange.sim.ticks import floor_to_grid, round_to_grid
from model import errors
from model.timeframes import Timeframe, duration_text
from strategies.features_batch import BarGrid

#: A spot pair's bar file; other names (READMEs, manifests, `XRP_USDT_USDT-futures-5m`,
#: Upbit's `KRW-BTC-1m`) are not read, as the replay does not read them.
PAIR_FILE_NAME = re.compile(r"^([A-Za-z0-9]+)_([A-Za-z0-9]+)-[^-.]+\.csv(?:\.gz)?$")
GRID_FIELDS = ("open", "high", "low", "close", "quote_volume")
MAX_GRID_ROWS = 3_000_000  # 5.7 years of 1m, 28 years of 5m: beyond it, split the folder


class BarFileError(errors.DataError, ValueError):
    """A bar folder or file that cannot be loaded; the message names it and what to fix."""


@dataclass(frozen=True, slots=True)
class BarFile:
    """One `<BASE>_<QUOTE>-<timeframe>.csv[.gz]` file of a folder."""

    path: Path
    base: str
    quote: str
    timeframe: Timeframe


def bar_files(folder: Path) -> dict[Timeframe, list[BarFile]]:
    """The folder's spot-pair bar files by timeframe, each list sorted by file name.
    `TimeframeError` for a pair file whose name has an unknown timeframe (`BTC_USDT-7m.csv`):
    leaving it out would silently drop a coin."""
    found: dict[Timeframe, list[BarFile]] = {}
    for path in sorted(folder.iterdir()):
        match = PAIR_FILE_NAME.match(path.name)
        if match is None or not path.is_file():
            continue
        timeframe = Timeframe.from_file_name(path.name)
        found.setdefault(timeframe, []).append(
            BarFile(path, match.group(1).upper(), match.group(2).upper(), timeframe))
    return found


def choose_timeframe(folder: Path, found: Mapping[Timeframe, list[BarFile]],
                     asked: Timeframe | None) -> Timeframe:
    """The timeframe to load: the one asked for, which must have files, or else the only one
    the folder holds."""
    held = ", ".join(f"{tf} ({count_text(len(found[tf]), 'file')}, e.g. "
                     f"{found[tf][0].path.name})" for tf in sorted(found, key=lambda tf: tf.ms))
    if not found:
        raise BarFileError(
            f"no bar files in {folder}: expected <BASE>_<QUOTE>-<timeframe>.csv[.gz] files "
            f"such as BTC_USDT-5m.csv.gz with columns {','.join(COLUMNS)}")
    if asked is None:
        if len(found) > 1:
            raise BarFileError(f"{folder} mixes timeframes: {held}; ask for one of them "
                               "(--timeframe)")
        return next(iter(found))
    if asked not in found:
        raise BarFileError(f"timeframe {asked} asked for, but {folder} has no "
                           f"<BASE>_<QUOTE>-{asked}.csv[.gz] file; it holds {held}")
    return asked


def count_text(count: int, noun: str) -> str:
    """`1 file`, `2 files`: for error messages."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def utc_text(ts_ms: int) -> str:
    """A bar time for error messages: `2024-01-01 00:05 UTC`."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def read_bar_file(path: Path, timeframe: Timeframe) -> pd.DataFrame:
    """One bar file, checked: the six columns, numbers everywhere, whole-ms timestamps that
    rise bar by bar (a gap is fine, a repeat or a step back is not), the closest two bars
    exactly one `timeframe` apart, and every bar opening on the timeframe's grid."""
    if path.stat().st_size == 0:
        raise BarFileError(f"{path}: empty file (not even a header); remove it or download "
                           "its bars again")
    try:
        frame = pd.read_csv(path, usecols=list(COLUMNS))
    except (ValueError, OSError, EOFError) as exc:
        raise BarFileError(f"{path}: cannot read columns {','.join(COLUMNS)} ({exc})") from None
    if frame.empty:
        raise BarFileError(f"{path}: no bars (only a header, or nothing); remove the file or "
                           "download its bars again")
    for column in COLUMNS:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values):
            raise BarFileError(f"{path}: column {column} holds text, not numbers")
        if values.isna().any():
            line = int(np.flatnonzero(values.isna().to_numpy())[0]) + 2
            raise BarFileError(f"{path}: line {line} has no {column}")
    if not pd.api.types.is_integer_dtype(frame["timestamp_ms"]):
        raise BarFileError(f"{path}: timestamp_ms must be whole milliseconds (bar open, UTC)")
    check_bar_times(path, frame["timestamp_ms"].to_numpy(np.int64), timeframe)
    return frame


def check_bar_times(path: Path, open_ms: np.ndarray, timeframe: Timeframe) -> None:
    """Refuse bar open times that are unsorted, repeated, spaced unlike `timeframe` or off
    its grid; the message names the file, the line (header = line 1) and the time."""
    steps = np.diff(open_ms)
    if steps.size and steps.min() <= 0:
        row = int(np.flatnonzero(steps <= 0)[0])
        at = utc_text(int(open_ms[row + 1]))
        if steps[row] == 0:
            raise BarFileError(f"{path}: the bar of {at} appears twice (lines {row + 2} and "
                               f"{row + 3}); keep one")
        raise BarFileError(f"{path}: not sorted by time: line {row + 3} ({at}) comes after "
                           f"line {row + 2} ({utc_text(int(open_ms[row]))}); sort the file")
    if steps.size and steps.min() != timeframe.ms:
        row = int(np.argmin(steps))
        found = duration_text(int(steps[row]))
        raise BarFileError(
            f"{path}: the name says {timeframe} bars, but the closest bars are {found} apart "
            f"(lines {row + 2} and {row + 3}, {utc_text(int(open_ms[row]))}); rename the file "
            f"to its real timeframe (-{found}) or put the right bars in it")
    off = np.flatnonzero((open_ms - timeframe.origin_ms) % timeframe.ms)
    if off.size:
        row = int(off[0])
        raise BarFileError(f"{path}: line {row + 2}: a bar opening at {utc_text(int(open_ms[row]))}"
                           f" is off the {timeframe} grid (bars open every {timeframe} from "
                           f"{utc_text(timeframe.origin_ms)})")


def load_bar_grid(folder: str | Path, timeframe: Timeframe | str | None = None) -> BarGrid:
    """The folder's bar files of one timeframe on one grid of that bar length (no bar =
    NaN), with `bar_ms` set. `timeframe` picks among the folder's timeframes; without it the
    folder must hold only one. `BarFileError` or `TimeframeError` naming the folder or file
    otherwise."""
    path = Path(folder)
    if not path.is_dir():
        raise BarFileError(f"bar folder {path} not found")
    asked = Timeframe.parse(timeframe) if isinstance(timeframe, str) else timeframe
    found = bar_files(path)
    chosen = choose_timeframe(path, found, asked)
    frames: dict[tuple[str, str], pd.DataFrame] = {}
    origin: dict[tuple[str, str], Path] = {}
    for file in found[chosen]:
        key = (file.base, file.quote)
        if key in origin:
            raise BarFileError(f"{file.path} and {origin[key].name} hold the same pair "
                               f"{file.base}/{file.quote} at {chosen}; keep one")
        frames[key], origin[key] = read_bar_file(file.path, chosen), file.path
    return grid_of(frames, chosen, path)


def grid_of(frames: Mapping[tuple[str, str], pd.DataFrame], timeframe: Timeframe,
            folder: Path) -> BarGrid:
    """Checked frames of (base, quote) pairs on one grid of `timeframe`, pairs sorted as the
    replay sorts them, values rounded as the replay rounds them."""
    keys = sorted(frames)
    first = min(int(frames[k]["timestamp_ms"].iloc[0]) for k in keys)
    last = max(int(frames[k]["timestamp_ms"].iloc[-1]) for k in keys)
    rows = (last - first) // timeframe.ms + 1
    if rows > MAX_GRID_ROWS:
        raise BarFileError(f"{folder}: the bars span {rows} {timeframe} bars (> {MAX_GRID_ROWS})"
                           "; put series of different periods in different folders")
    columns = {name: np.full((rows, len(keys)), np.nan) for name in GRID_FIELDS}
    for col, key in enumerate(keys):
        frame = frames[key]
        at = (frame["timestamp_ms"].to_numpy(np.int64) - first) // timeframe.ms
        for name, values in replay_values(key, frame).items():
            columns[name][at, col] = values
    return BarGrid(symbols=tuple(base + quote for base, quote in keys), start_ms=first,
                      bar_ms=timeframe.ms, **columns)


def replay_values(key: tuple[str, str], frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Prices and quote volume of one pair as `ReplaySource` stores them: prices on the
    inferred tick and at least one tick, high/low around open and close, volume floored to
    the inferred lot, quote volume = volume x the mean of open, high, low and close."""
    instrument = infer_instrument(key[0], key[1], frame)
    # 0-d arrays: the replay rounds with per-column arrays; same float64 arithmetic.
    tick, lot = np.asarray(float(instrument.tick)), np.asarray(float(instrument.lot))
    o, h, low, c = (round_to_grid(frame[name].to_numpy(float), tick)
                    for name in ("open", "high", "low", "close"))
    c = np.maximum(c, tick)
    o = np.maximum(o, tick)
    h = np.maximum(h, np.maximum(o, c))
    low = np.minimum(np.maximum(low, tick), np.minimum(o, c))
    volume = np.maximum(floor_to_grid(frame["volume"].to_numpy(float), lot), 0.0)
    return {"open": o, "high": h, "low": low, "close": c,
            "quote_volume": volume * (o + h + low + c) / 4.0}
