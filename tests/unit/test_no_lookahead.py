"""No lookahead: what happens after t never changes a feature or a ranking at t."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import StrategyConfig
from model.market import MINUTE_MS, Bar, Tick
from strategies.features import FEATURE_NAMES, FeatureBook, MinuteGrid, features_from_history
from strategies.ranking import rank, score_features
from tests.unit.test_features_support import START_MS, synthetic_histories

MINUTES = 1600
HISTORIES = synthetic_histories(seed=21, n_symbols=4, minutes=MINUTES)
GRID = MinuteGrid.from_histories(HISTORIES)
BASE = features_from_history(GRID)
CONFIG = StrategyConfig(top_k=4, min_quote_volume_24h=0.0, max_spread_bps=50.0)


def perturbed(cut: int, seed: int, delete: bool) -> MinuteGrid:
    """The grid with every row at or after `cut` changed: prices and volumes scaled
    randomly, some bars deleted (missing minutes), others created."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for name in ("open", "high", "low", "close", "quote_volume"):
        values = getattr(GRID, name).copy()
        tail = values[cut:]
        tail *= rng.uniform(0.5, 2.0, tail.shape)
        arrays[name] = values
    future = arrays["close"][cut:]
    if delete:
        future[rng.random(future.shape) < 0.3] = np.nan
    else:  # trades where there were none
        filled = np.isnan(future) & (rng.random(future.shape) < 0.5)
        future[filled] = rng.uniform(1e-5, 10, filled.sum())
    return MinuteGrid(GRID.symbols, GRID.start_ms, **arrays)


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(min_value=1, max_value=MINUTES - 2), seed=st.integers(0, 2**32 - 1),
       delete=st.booleans())
@pytest.mark.slow
def test_changing_bars_after_t_leaves_features_and_scores_up_to_t_unchanged(
        cut: int, seed: int, delete: bool) -> None:
    changed = features_from_history(perturbed(cut, seed, delete))
    np.testing.assert_array_equal(changed[:cut], BASE[:cut])
    before = score_features(BASE[:cut], FEATURE_NAMES, CONFIG, require_quotes=False)
    after = score_features(changed[:cut], FEATURE_NAMES, CONFIG, require_quotes=False)
    np.testing.assert_array_equal(before.probability, after.probability)
    t = cut - 1
    assert rank(BASE[t], FEATURE_NAMES, GRID.symbols, CONFIG, require_quotes=False) == rank(
        changed[t], FEATURE_NAMES, GRID.symbols, CONFIG, require_quotes=False)


def events(seed: int, perturb_from_ms: int | None) -> list[Bar | Tick]:
    """Bars (at their close time) and ticks of a short session, in time order; with
    `perturb_from_ms`, everything stamped at or after it is randomly altered."""
    rng = np.random.default_rng(seed)
    out: list[tuple[int, Bar | Tick]] = []
    for symbol, h in list(HISTORIES.items())[:3]:
        for i in range(min(len(h), 400)):
            bar = Bar(symbol, int(h.open_ms[i]), float(h.open[i]), float(h.high[i]),
                      float(h.low[i]), float(h.close[i]), float(h.volume[i]),
                      float(h.quote_volume[i]))
            out.append((bar.close_ms, bar))
            ts = bar.close_ms + 1 + int(rng.integers(0, 59_000))
            mid = bar.close * (1 + rng.normal() * 1e-3)
            out.append((ts, Tick(symbol, ts, ts, mid, mid * 0.999, mid * 1.001,
                                 float(rng.uniform(1, 9)), float(rng.uniform(1, 9)),
                                 math.nan, float(rng.uniform(1e3, 1e6)))))
    out.sort(key=lambda pair: pair[0])
    if perturb_from_ms is None:
        return [e for _, e in out]
    noise = np.random.default_rng(seed + 1)
    altered = []
    for ts, event in out:
        if ts >= perturb_from_ms:
            scale = float(noise.uniform(0.5, 2.0))
            if isinstance(event, Bar):
                event = Bar(event.symbol, event.open_ms, event.open * scale, event.high * scale,
                            event.low * scale, event.close * scale, event.volume * 3,
                            event.quote_volume * 3)
            else:
                event = Tick(event.symbol, event.ts_event, event.ts_recv, event.last * scale,
                             event.bid * scale, event.ask * scale, event.bid_qty * 2,
                             event.ask_qty / 2, math.nan, event.quote_volume * 5)
        altered.append(event)
    return altered


def decisions(stream: list[Bar | Tick], decision_ms: list[int]) -> list[tuple[np.ndarray, list]]:
    """Replay as the engine does: at decision time d, everything stamped before d has been
    applied, the minute before d is declared closed, then matrix() and rank()."""
    book = FeatureBook(GRID.symbols)
    out = []
    pending = iter(stream)
    event = next(pending, None)
    for d in decision_ms:
        while event is not None and (event.close_ms if isinstance(event, Bar)
                                     else event.ts_event) < d:
            book.on_bar(event) if isinstance(event, Bar) else book.on_tick(event)
            event = next(pending, None)
        book.advance_to(d - d % MINUTE_MS - MINUTE_MS)
        matrix = book.matrix()
        out.append((matrix, rank(matrix, FEATURE_NAMES, GRID.symbols,
                                 StrategyConfig(top_k=4), min_warm_minutes=30)))
    return out


@pytest.mark.slow
def test_live_book_decisions_ignore_bars_and_ticks_stamped_at_or_after_t() -> None:
    decision_ms = [START_MS + m * MINUTE_MS + 30_000 for m in range(40, 400, 9)]
    base = decisions(events(5, None), decision_ms)
    for cut_index in (3, 17, 30):
        cut_ms = decision_ms[cut_index]
        changed = decisions(events(5, cut_ms), decision_ms)
        for (m0, r0), (m1, r1) in zip(base[: cut_index + 1], changed[: cut_index + 1]):
            np.testing.assert_array_equal(m0, m1)
            assert r0 == r1
        assert any(not np.array_equal(m0, m1, equal_nan=True)
                   for (m0, _), (m1, _) in zip(base[cut_index + 1:], changed[cut_index + 1:]))
