"""The drift detector: one notice for a sustained drift, none for noise, a clear when back."""

from __future__ import annotations

import random

from trading.execution_drift import FILL_RATE, SLIPPAGE, DriftDetector, DriftLimits, reading

LIMITS = DriftLimits(window_orders=50, min_orders=20, z=3.0, slippage_floor_bps=5.0,
                     fill_rate_floor=0.15)


def test_a_sustained_slippage_drift_raises_once_after_min_orders_and_never_again() -> None:
    # given fills that cost 12 bps more than modeled, give or take 4 bps
    rng = random.Random(1)
    detector = DriftDetector(LIMITS)
    changes = []
    for i in range(200):
        changes += [(i, c) for c in detector.observe("AAAUSDT", "BUY", 0.0,
                                                      12.0 + rng.gauss(0, 4))]
    # then exactly one change: raised, on the min_orders-th order, with the mean and the side
    assert [(i, c.metric, c.raised) for i, c in changes] == [(19, SLIPPAGE, True)]
    change = changes[0][1]
    assert change.symbol == "AAAUSDT" and change.side == "BUY"
    assert 10 < change.reading.mean < 14
    assert "recalibrate" in change.text() and "AAAUSDT BUY" in change.text()
    assert detector.drifting() == [("AAAUSDT", "BUY", SLIPPAGE)]


def test_noise_around_the_model_never_raises() -> None:
    # given realized minus modeled: zero-mean noise (slippage sd 10 bps, fill gap sd 0.3),
    # over 2,000 orders on four symbol-sides
    rng = random.Random(7)
    detector = DriftDetector(LIMITS)
    changes = []
    for i in range(2000):
        symbol, side = ("AAAUSDT", "BBBUSDT")[i % 2], ("BUY", "SELL")[i // 2 % 2]
        changes += detector.observe(symbol, side, rng.gauss(0, 0.3), rng.gauss(0, 10))
    assert changes == []


def test_a_fill_rate_drift_clears_once_when_the_market_is_back_within_bounds() -> None:
    detector = DriftDetector(LIMITS)
    # given orders that the model said fill for sure and that never fill
    missed = [c for _ in range(30) for c in detector.observe("AAAUSDT", "SELL", -1.0, None)]
    assert [(c.metric, c.raised) for c in missed] == [(FILL_RATE, True)]
    # when orders then fill as modeled (with noise), the old misses leave the window
    rng = random.Random(3)
    back = [c for _ in range(60)
            for c in detector.observe("AAAUSDT", "SELL", rng.gauss(0, 0.05), None)]
    # then exactly one clear, and nothing is drifting any more
    assert [(c.metric, c.raised) for c in back] == [(FILL_RATE, False)]
    assert "cleared" in back[0].text()
    assert detector.drifting() == []


def test_drift_on_one_symbol_side_leaves_the_others_alone() -> None:
    detector = DriftDetector(LIMITS)
    for _ in range(30):
        detector.observe("AAAUSDT", "BUY", -0.5, None)
        detector.observe("AAAUSDT", "SELL", 0.0, None)
    assert detector.drifting() == [("AAAUSDT", "BUY", FILL_RATE)]


def test_no_verdict_on_fewer_than_min_orders_however_large_the_gap() -> None:
    detector = DriftDetector(LIMITS)
    assert [c for _ in range(19) for c in detector.observe("A", "BUY", -1.0, 500.0)] == []


def test_a_small_bias_measured_precisely_stays_below_the_floor() -> None:
    # 2 bps mean with almost no spread: far beyond 3 standard errors, but under the 5 bps floor
    gaps = [2.0 + 0.01 * (i % 3) for i in range(50)]
    r = reading(gaps, LIMITS, SLIPPAGE)
    assert r.orders == 50 and r.bound == 5.0 and not r.beyond
