"""Sustained drift between realized and modeled execution: the signal to recalibrate.

Per symbol and side, over the last `window_orders` completed orders, two gaps are averaged:
the fill gap (filled share within the horizon minus the modeled fill probability, every
order) and the slippage gap (realized minus modeled slippage in bps, orders with a fill).
A gap is in *drift* once at least `min_orders` orders are in the window and its mean lies
beyond both `z` standard errors (so noise does not trip it) and a floor (so a tiny but
well-measured bias does not either). It clears once the mean is back within half that
bound: the hysteresis keeps a mean that hovers at the bound from raising a notice on every
order. Each raise and each clear is one `DriftChange`, never one per fill.

Pure: the execution monitor feeds it and turns the changes into notices.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

CLEAR_FRACTION = 0.5  # clears within this share of the raise bound (hysteresis)
SLIPPAGE = "slippage_bps"
FILL_RATE = "fill_rate"


@dataclass(frozen=True, slots=True)
class DriftLimits:
    """When a gap counts as sustained drift (config `[execution]`)."""

    window_orders: int = 50  # completed orders per symbol and side kept in the window
    min_orders: int = 20  # no verdict on fewer
    z: float = 3.0  # the mean must lie beyond this many standard errors ...
    slippage_floor_bps: float = 5.0  # ... and beyond this many bps (slippage gap)
    fill_rate_floor: float = 0.15  # ... or this share (fill gap)

    def floor(self, metric: str) -> float:
        """The absolute floor of `metric`'s bound."""
        return self.slippage_floor_bps if metric == SLIPPAGE else self.fill_rate_floor


@dataclass(frozen=True, slots=True)
class GapReading:
    """One gap over one window: mean, its standard error, the order count, the bound."""

    mean: float
    standard_error: float
    orders: int
    bound: float

    @property
    def beyond(self) -> bool:
        """Whether the mean lies beyond the raise bound, on enough orders."""
        return math.isfinite(self.mean) and abs(self.mean) > self.bound


@dataclass(frozen=True, slots=True)
class DriftChange:
    """A gap went into drift (`raised`) or came back within bounds."""

    symbol: str
    side: str
    metric: str  # SLIPPAGE or FILL_RATE
    raised: bool
    reading: GapReading

    def text(self) -> str:
        """One line for the operator: what drifted, by how much, and what to do."""
        r = self.reading
        if self.metric == SLIPPAGE:
            size = f"realized slippage {r.mean:+.1f} bps vs modeled (+/- {r.standard_error:.1f})"
        else:
            size = f"fill rate {r.mean:+.0%} vs modeled (+/- {r.standard_error:.0%})"
        if not self.raised:
            return (f"execution drift cleared: {self.symbol} {self.side} {size} over the last "
                    f"{r.orders} orders")
        return (f"execution drift: {self.symbol} {self.side} {size} over the last {r.orders} "
                f"orders; the fill model no longer matches this market: recalibrate it "
                f"(entasis sim calibrate) and check `entasis sim report --ledger`")


def reading(gaps: Iterable[float], limits: DriftLimits, metric: str) -> GapReading:
    """The mean gap, its standard error and the raise bound (infinite on too few orders)."""
    values = [g for g in gaps if math.isfinite(g)]
    n = len(values)
    if n == 0:
        return GapReading(math.nan, math.nan, 0, math.inf)
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else math.inf
    error = math.sqrt(variance / n)
    bound = max(limits.z * error, limits.floor(metric)) if n >= limits.min_orders else math.inf
    return GapReading(mean, error, n, bound)


@dataclass(slots=True)
class _Window:
    """The last gaps of one symbol and side, and which metrics are in drift."""

    fill: deque[float]
    slippage: deque[float]
    drifting: set[str] = field(default_factory=set)


class DriftDetector:
    """Rolling gaps per (symbol, side); `observe` returns the drift changes an order causes."""

    def __init__(self, limits: DriftLimits | None = None) -> None:
        self.limits = limits or DriftLimits()
        self._windows: dict[tuple[str, str], _Window] = {}

    def observe(self, symbol: str, side: str, fill_gap: float,
                slippage_gap: float | None) -> list[DriftChange]:
        """Add one completed order's gaps; the raises and clears it causes (usually none)."""
        window = self._window(symbol, side)
        window.fill.append(fill_gap)
        if slippage_gap is not None and math.isfinite(slippage_gap):
            window.slippage.append(slippage_gap)
        changes: list[DriftChange] = []
        for metric, gaps in ((SLIPPAGE, window.slippage), (FILL_RATE, window.fill)):
            now = reading(gaps, self.limits, metric)
            if metric not in window.drifting and now.beyond:
                window.drifting.add(metric)
                changes.append(DriftChange(symbol, side, metric, True, now))
            elif metric in window.drifting and (
                    not math.isfinite(now.mean) or abs(now.mean) <= now.bound * CLEAR_FRACTION):
                window.drifting.discard(metric)
                changes.append(DriftChange(symbol, side, metric, False, now))
        return changes

    def readings(self) -> dict[tuple[str, str], dict[str, GapReading]]:
        """Every window's current readings, by (symbol, side) then metric."""
        return {key: {SLIPPAGE: reading(w.slippage, self.limits, SLIPPAGE),
                      FILL_RATE: reading(w.fill, self.limits, FILL_RATE)}
                for key, w in sorted(self._windows.items())}

    def drifting(self) -> list[tuple[str, str, str]]:
        """(symbol, side, metric) of every gap in drift now."""
        return sorted((s, side, m) for (s, side), w in self._windows.items()
                      for m in w.drifting)

    def _window(self, symbol: str, side: str) -> _Window:
        key = (symbol, side)
        if key not in self._windows:
            size = self.limits.window_orders
            self._windows[key] = _Window(deque(maxlen=size), deque(maxlen=size))
        return self._windows[key]
