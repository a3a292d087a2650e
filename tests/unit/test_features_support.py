"""Builders shared by the feature, ranking and no-lookahead tests (no tests here)."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from model.market import MINUTE_MS, Bar, BarHistory
from strategies.features import FeatureBook

START_MS = 1_700_000_000_000 // MINUTE_MS * MINUTE_MS


def history(symbol: str, open_ms: Iterable[int], close: Iterable[float],
            quote_volume: Iterable[float] | None = None,
            high: Iterable[float] | None = None,
            low: Iterable[float] | None = None) -> BarHistory:
    """A BarHistory from plain lists (open = close; high/low default to the close)."""
    close_a = np.asarray(list(close), dtype=np.float64)
    qv = np.ones_like(close_a) if quote_volume is None else np.asarray(list(quote_volume),
                                                                       dtype=np.float64)
    hi = close_a.copy() if high is None else np.asarray(list(high), dtype=np.float64)
    lo = close_a.copy() if low is None else np.asarray(list(low), dtype=np.float64)
    return BarHistory(symbol, np.asarray(list(open_ms), dtype=np.int64), close_a.copy(), hi, lo,
                      close_a, qv / close_a, qv)


def synthetic_histories(seed: int, n_symbols: int, minutes: int) -> dict[str, BarHistory]:
    """Random walks with what real exchanges do: missing minutes (some long gaps), flat
    stretches, zero-volume bars, volume spikes, a late starter and an early finisher."""
    rng = np.random.default_rng(seed)
    out: dict[str, BarHistory] = {}
    for i in range(n_symbols):
        steps = rng.standard_normal(minutes) * rng.uniform(5e-4, 5e-3)
        steps[rng.random(minutes) < 0.3] = 0.0  # no price change
        close = rng.uniform(1e-5, 100) * np.exp(np.cumsum(steps))
        wiggle = np.abs(rng.standard_normal(minutes)) * 1e-3
        qv = rng.lognormal(0, 2, minutes) * (rng.random(minutes) > 0.2)
        qv[rng.random(minutes) < 0.002] *= 1e6  # spikes
        keep = rng.random(minutes) > 0.15  # missing minutes
        if minutes > 400:
            keep[200 + 17 * i: 200 + 17 * i + 130] = False  # a gap longer than an hour
        if i == 1:
            keep[: minutes // 3] = False  # starts late
        if i == 2:
            keep[-minutes // 4:] = False  # stops trading early
        keep[minutes // 2 if i == 1 else 0] = True
        idx = np.flatnonzero(keep)
        out[f"S{i}"] = history(f"S{i}", START_MS + MINUTE_MS * idx, close[idx], qv[idx],
                               close[idx] * np.exp(wiggle[idx]), close[idx] * np.exp(-wiggle[idx]))
    return out


def bars_of(histories: Mapping[str, BarHistory]) -> dict[int, list[Bar]]:
    """Bars grouped by their open minute, in symbol order within a minute."""
    by_minute: dict[int, list[Bar]] = {}
    for h in histories.values():
        for i in range(len(h)):
            bar = Bar(h.symbol, int(h.open_ms[i]), float(h.open[i]), float(h.high[i]),
                      float(h.low[i]), float(h.close[i]), float(h.volume[i]),
                      float(h.quote_volume[i]))
            by_minute.setdefault(int(h.open_ms[i]) // MINUTE_MS, []).append(bar)
    return by_minute


def replay(book: FeatureBook, by_minute: Mapping[int, list[Bar]], first_minute: int,
           minutes: int, snapshot_every: int = 1, one_by_one: bool = False
           ) -> dict[int, np.ndarray]:
    """Feed bars minute by minute as the engine does (bars, then advance_to) and return
    the feature matrix at every `snapshot_every`-th minute and the last one."""
    snapshots: dict[int, np.ndarray] = {}
    for t in range(minutes):
        bars = by_minute.get(first_minute + t, [])
        if one_by_one:
            for bar in bars:
                book.on_bar(bar)
        else:
            book.on_bars(bars)
        book.advance_to((first_minute + t) * MINUTE_MS)
        if t % snapshot_every == 0 or t == minutes - 1:
            snapshots[t] = book.matrix()
    return snapshots


def read_ohlcv(path: Path, symbol: str) -> BarHistory:
    """A shared-data OHLCV file (`timestamp_ms,open,high,low,close,volume`, base volume)."""
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", skiprows=1, ndmin=2)
    close = table[:, 4]
    return BarHistory(symbol, table[:, 0].astype(np.int64), table[:, 1], table[:, 2],
                      table[:, 3], close, table[:, 5], table[:, 5] * close)
