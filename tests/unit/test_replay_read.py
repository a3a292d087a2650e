"""The replay's loading (exchange/sim/replay.py) against its plain definitions: a file reads
as `pd.read_csv` then the cleaning (drop rows with a missing value or off the minute, keep
the first of duplicate times, sort) reads it, clean or not, plain or gzipped; an unreadable
file is refused with the message it always had; `decimals_needed` answers as testing every
value at every count of decimals; the bars go on the grid as a column-by-column fill puts
them (exchange/sim/replay_grid.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exchange.sim import replay_grid
from exchange.sim.bars import BAR_FIELDS
from exchange.sim.replay import (
    COLUMNS,
    MAX_DECIMALS,
    ReplayError,
    ReplaySource,
    decimals_needed,
    read_ohlcv,
)
from exchange.sim.ticks import floor_to_grid, round_to_grid
from model.market import MINUTE_MS

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sim_replay"
FIRST_MS = 1_700_000_040_000 - 1_700_000_040_000 % MINUTE_MS


def defined_read(path: Path) -> pd.DataFrame:
    """The definition: pandas reads the file, then the cleaning."""
    frame = pd.read_csv(path, usecols=list(COLUMNS)).dropna()
    frame = frame[frame["timestamp_ms"] % MINUTE_MS == 0]
    return frame.drop_duplicates("timestamp_ms").sort_values("timestamp_ms", ignore_index=True)


def defined_decimals(values: np.ndarray, cap: int = MAX_DECIMALS) -> int:
    finite = values[np.isfinite(values)]
    for decimals in range(cap + 1):
        scaled = finite * 10.0**decimals
        allowed = 10.0**decimals * 1e-11 + np.abs(scaled) * 1e-12
        if np.all(np.abs(scaled - np.round(scaled)) <= allowed):
            return decimals
    return cap


def same_frame(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return (list(a.columns) == list(b.columns) and list(a.dtypes) == list(b.dtypes)
            and a.index.equals(b.index)
            and a.to_numpy().tobytes() == b.to_numpy().tobytes())


def write(path: Path, text: str) -> Path:
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def random_rows(rng: np.random.Generator, count: int) -> list[str]:
    rows = []
    for k in range(count):
        price = round(float(rng.uniform(0.01, 900.0)), int(rng.integers(0, 9)))
        rows.append(f"{FIRST_MS + k * MINUTE_MS},{price},{price * 1.01:.8f},{price * 0.99:.8f},"
                    f"{price},{float(rng.uniform(0, 50)):.5f}")
    return rows


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_a_clean_file_reads_as_pandas_reads_it(tmp_path: Path, suffix: str) -> None:
    rows = random_rows(np.random.default_rng(1), 500)
    path = write(tmp_path / f"ETH_BTC-1m{suffix}", "\n".join([",".join(COLUMNS), *rows]) + "\n")
    assert same_frame(read_ohlcv(path), defined_read(path))
    for fixture in sorted(FIXTURE.iterdir()):
        assert same_frame(read_ohlcv(fixture), defined_read(fixture))


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_unsorted_duplicate_missing_and_off_minute_rows_are_cleaned(tmp_path: Path,
                                                                     suffix: str) -> None:
    rng = np.random.default_rng(2)
    rows = random_rows(rng, 300)
    messy = [
        [*rows[::-1]],  # unsorted
        [*rows[:100], *rows[50:60], *rows[100:]],  # duplicate times
        [*rows[:10], f"{FIRST_MS + 20 * MINUTE_MS},1.0,,0.5,1.0,2.0", *rows[30:]],  # missing
        [*rows[:10], f"{FIRST_MS + 20 * MINUTE_MS + 7},1.0,1.1,0.5,1.0,2.0", *rows[30:]],
        [*rows[:5], f"{FIRST_MS + 9 * MINUTE_MS},1.0,1.1,0.5,1.0,2.0", *rows[5:]],  # repeat
        [],  # no rows at all
    ]
    for k, body in enumerate(messy):
        path = write(tmp_path / f"A{k}_BTC-1m{suffix}",
                     "\n".join([",".join(COLUMNS), *body]) + "\n")
        assert same_frame(read_ohlcv(path), defined_read(path)), k


def test_an_unreadable_file_is_refused_with_the_readers_own_message(tmp_path: Path) -> None:
    header_only = ",".join(COLUMNS[:-1])
    cases = [
        write(tmp_path / "A_BTC-1m.csv", f"{header_only}\n{FIRST_MS},1,1,1,1\n"),  # no volume
        write(tmp_path / "B_BTC-1m.csv.gz", f"{header_only}\n{FIRST_MS},1,1,1,1\n"),
    ]
    not_gzip = tmp_path / "C_BTC-1m.csv.gz"
    not_gzip.write_text(",".join(COLUMNS) + f"\n{FIRST_MS},1,1,1,1,1\n")
    cases.append(not_gzip)
    for path in cases:
        with pytest.raises((ValueError, OSError)) as plain:
            pd.read_csv(path, usecols=list(COLUMNS))
        expected = f"{path}: cannot read {','.join(COLUMNS)} ({plain.value})"
        with pytest.raises(ReplayError) as refused:
            read_ohlcv(path)
        assert str(refused.value) == expected


def test_decimals_needed_is_every_value_tested_at_every_count_of_decimals() -> None:
    rng = np.random.default_rng(3)
    for trial in range(300):
        size = int(rng.integers(0, 400))
        decimals = rng.integers(0, 11, size)
        raw = rng.uniform(-1e4, 1e4, size)
        values = np.array([round(float(v), int(d)) for v, d in zip(raw, decimals, strict=True)])
        values = values * rng.choice([1.0, 1e-6], size)
        if size and trial % 3 == 0:  # one late value with more decimals than the probe's
            values[-1] = 1.123456789
            values[:-1] = np.round(values[:-1])
        if size and trial % 7 == 0:
            values[rng.integers(0, size)] = np.nan
        assert decimals_needed(values) == defined_decimals(values), trial
        assert decimals_needed(values, 3) == defined_decimals(values, 3), trial


def defined_grid(source: ReplaySource, frames: dict[tuple[str, str], pd.DataFrame],
                 first: int, rows: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The grid filled column by column into (rows, symbols) arrays."""
    keys = sorted(frames)
    columns = {f: np.zeros((rows, len(keys))) for f in BAR_FIELDS}
    traded = np.zeros((rows, len(keys)), dtype=bool)
    for col, key in enumerate(keys):
        frame = frames[key]
        at = (frame["timestamp_ms"].to_numpy(np.int64) - first) // MINUTE_MS
        tick, lot = source.tick[col], source.lot[col]
        o, h, low, c = (round_to_grid(frame[f].to_numpy(float), tick)
                        for f in ("open", "high", "low", "close"))
        c, o = np.maximum(c, tick), np.maximum(o, tick)
        h = np.maximum(h, np.maximum(o, c))
        low = np.minimum(np.maximum(low, tick), np.minimum(o, c))
        volume = np.maximum(floor_to_grid(frame["volume"].to_numpy(float), lot), 0.0)
        for field, values in zip(("open", "high", "low", "close", "volume"),
                                 (o, h, low, c, volume), strict=True):
            columns[field][at, col] = values
        columns["quote_volume"][at, col] = volume * (o + h + low + c) / 4.0
        traded[at, col] = True
    quote = columns["quote_volume"]
    typical = np.array([np.median(quote[traded[:, i], i]) for i in range(len(keys))])
    trades = 1 + np.floor(20.0 * quote / np.maximum(typical, 1e-12)).astype(np.int64)
    return columns, trades, traded


def gappy_frames(seed: int, odd: bool) -> dict[tuple[str, str], pd.DataFrame]:
    """Five symbols' bars with gaps, starting at different minutes; with `odd`, some
    values NaN, infinite, negative or zero, and for an odd seed some symbols' rows
    shuffled and repeated."""
    rng = np.random.default_rng(seed)
    frames = {}
    for k in range(5):
        minutes = np.sort(rng.choice(3000, int(rng.integers(10, 2500)), replace=False))
        close = np.round(rng.uniform(1, 100, len(minutes)), 2 + k)
        volume = np.round(rng.uniform(0, 9, len(minutes)), k)
        if odd:
            close[rng.random(len(close)) < 0.02] = rng.choice([np.nan, np.inf, -3.0, 0.0])
            volume[rng.random(len(volume)) < 0.02] = rng.choice([np.nan, np.inf, -1.0])
        frame = pd.DataFrame({
            "timestamp_ms": FIRST_MS + (minutes + k * 7) * MINUTE_MS, "open": close,
            "high": close * 1.01, "low": close * 0.99, "close": close, "volume": volume})
        if odd and k % 2 and seed % 2:  # shuffled: the plain writes
            again = frame.iloc[:40].copy()  # the same minutes again, other prices
            again[["open", "high", "low", "close"]] *= 1.5
            frame = pd.concat([frame, again]).sample(frac=1.0, random_state=k)
        frames[(f"C{k}", "USDT")] = frame
    return frames


@pytest.mark.parametrize(("odd", "chunk_rows"), [(False, 4096), (False, 97), (True, 97)])
def test_bars_with_gaps_go_on_the_grid_as_a_column_by_column_fill_puts_them(
        odd: bool, chunk_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """In order (compiled passes of `chunk_rows` rows) or not (each bar where it falls, a
    later duplicate over an earlier one), with odd values or not: the same grid as the
    plain fill."""
    monkeypatch.setattr(replay_grid, "CHUNK_ROWS", chunk_rows)
    for seed in range(4):
        frames = gappy_frames(seed, odd)
        source = ReplaySource(gappy_frames(seed, False), warmup_minutes=10)  # its rules
        first = min(int(f["timestamp_ms"].min()) for f in frames.values())
        rows = (max(int(f["timestamp_ms"].max()) for f in frames.values()) - first
                ) // MINUTE_MS + 1
        with np.errstate(all="ignore"):
            made = source._grid(frames, sorted(frames), first, rows)
            defined = defined_grid(source, frames, first, rows)
        for field in BAR_FIELDS:
            assert made[0][field].flags.c_contiguous
            assert made[0][field].tobytes() == defined[0][field].tobytes(), (seed, field)
        assert made[1].tobytes() == defined[1].tobytes(), seed
        assert made[2].tobytes() == defined[2].tobytes() and made[2].flags.c_contiguous
