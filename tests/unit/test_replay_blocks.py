"""The replay's block reads against minute-by-minute reads: the same minutes, bit for bit.

`ReplaySource.advance` reads and synthesizes `BLOCK_MINUTES` minutes at once
(`BarStore.minute_block`, `synthesize_tick_block`). Every minute it plays must equal what
`BarStore.minute` and `synthesize_ticks` give for that minute alone: every array's dtype,
shape and bytes, whatever block the minute falls in, with gaps (minutes without a bar for
one symbol or for all) and a start moved after construction, as `run_backtest` does.
"""

from __future__ import annotations

import gzip
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from exchange.sim import replay
from exchange.sim.bars import MinuteData
from exchange.sim.replay import ReplaySource
from exchange.sim.ticks import synthesize_ticks
from model.market import MINUTE_MS
from tests.integration.test_replay_feed import write_gappy_replay

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sim_replay"


def _exact(value: Any) -> Any:
    """Arrays as dtype, shape and bytes (NaN-safe, layout-independent), the rest as is."""
    if isinstance(value, np.ndarray):
        return value.dtype.str, value.shape, np.ascontiguousarray(value).tobytes()
    return type(value).__name__, value


def _minute_alone(source: ReplaySource, open_ms: int) -> MinuteData:
    """Minute `open_ms` read and synthesized on its own (the replay before block reads)."""
    bars = source.store.minute(source.store.row_of(open_ms))
    ticks = synthesize_ticks(bars, source.tick, source.lot, source.spread_bps(),
                             source.ticks_per_bar, source.seed)
    return MinuteData(bars=bars, ticks=ticks)


def _as_exact(data: MinuteData) -> list[Any]:
    return [(part, f.name, _exact(getattr(getattr(data, part), f.name)))
            for part in ("bars", "ticks") for f in fields(getattr(data, part))]


def _play_and_compare(source: ReplaySource) -> int:
    played = 0
    while True:
        open_ms = source.now_ms
        data = source.advance()
        if data is None:
            return played
        assert _as_exact(data) == _as_exact(_minute_alone(source, open_ms)), open_ms
        played += 1


def _write_trending(directory: Path, minutes: int) -> None:
    """Three coins over `minutes`, one listed late and one with a long halt."""
    first = 1_700_000_040_000
    for name, base, listed, halted in (("AAA_USDT", 20.0, 0, range(0)),
                                       ("BBB_USDT", 0.5, 70, range(0)),
                                       ("CCC_USDT", 3000.0, 0, range(90, 150))):
        rng = np.random.default_rng(len(name) + int(base))
        price = base
        lines = ["timestamp_ms,open,high,low,close,volume"]
        for minute in range(minutes):
            close = round(price * (1 + rng.normal(0, 0.004)), 4)
            high = round(max(price, close) * 1.002, 4)
            low = round(min(price, close) * 0.998, 4)
            if minute >= listed and minute not in halted:
                volume = round(float(rng.uniform(0.0, 30.0)), 3)
                lines.append(f"{first + minute * MINUTE_MS},{price},{high},{low},{close},{volume}")
            price = close
        with gzip.open(directory / f"{name}-1m.csv.gz", "wt") as out:
            out.write("\n".join(lines) + "\n")


@pytest.mark.parametrize("block_minutes", [1, 7, 60])
def test_every_played_minute_equals_the_minute_read_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_minutes: int
) -> None:
    monkeypatch.setattr(replay, "BLOCK_MINUTES", block_minutes)
    _write_trending(tmp_path, 400)
    source = ReplaySource.from_dir(tmp_path, ticks_per_bar=4, seed=3, warmup_minutes=30)
    assert _play_and_compare(source) == 370


def test_gaps_other_tick_counts_and_a_moved_start(tmp_path: Path) -> None:
    write_gappy_replay(tmp_path)  # minutes missing for one symbol, and for both
    source = ReplaySource.from_dir(tmp_path, ticks_per_bar=3, seed=5, warmup_minutes=20)
    source.now_ms += 3 * MINUTE_MS  # `run_backtest --from` moves the start after building
    assert _play_and_compare(source) == 17


def test_a_start_moved_back_within_the_read_block(tmp_path: Path) -> None:
    _write_trending(tmp_path, 200)
    source = ReplaySource.from_dir(tmp_path, ticks_per_bar=1, seed=8, warmup_minutes=100)
    for _ in range(5):
        source.advance()
    source.now_ms -= 3 * MINUTE_MS  # back to minutes of the block already read
    assert _play_and_compare(source) == 98


def test_the_recorded_fixture(tmp_path: Path) -> None:
    source = ReplaySource.from_dir(FIXTURE, ticks_per_bar=4, seed=9, warmup_minutes=10)
    assert _play_and_compare(source) > 0
