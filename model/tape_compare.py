"""The fill model's predicted fill rate for resting orders at the touch, held against what a
real trade tape says (model/tape_fills.py), and the queue parameter fitted where they differ.

The same orders twice: at each bar's open a buy and a sell of the same amount rest at the
touch for a horizon. The tape replay places them at the real (quoted or tape-inferred)
touch with the real (or assumed) queue ahead; the fill model meets them through its own
entry points (`fills.market_from_bars`, `fills.match`, `fills.advance`) on the bars of that
window, at the touch it synthesizes (bid = open, ask = open + the spread) with the
queue it synthesizes (`bar_book_share` of the bar's volume). Each side sees its own touch:
that is what a strategy joining "the bid" meets in a backtest and in the market. The spread
is the one a backtest prices the symbol with (`judged_spread`: estimated from the bars
before the judged half, model/costs.py), or None for the one-tick book (`bar_spread_ticks`).

`fit_param` finds the `bar_book_share` (the queue) or the `max_volume_share` (the cap on
passive fills) under which the model's filled-amount share equals the tape's on the orders
given (a training half), by bisection: the share is monotone in either.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from model import costs, fills, libm
from model.fill_kernel import BUY, SELL
from model.tape_fills import Tape, TouchOrders, replay
from model.tape_ticks import TickMarket, rest_within, tick_fills

#: The parameters `fit_param` may fit, and the range it searches each in (log scale).
FIT_RANGES = {"bar_book_share": (1e-6, 1e3), "max_volume_share": (1e-4, 1.0)}
FIT_TOLERANCE = 0.005  # relative: a share this close to the tape's is agreement
#: What a fit may move when the model runs on ticks (their book carries its own sizes).
TICK_FIT_NAMES = ("max_volume_share",)
FIT_STEPS = 30  # bisection steps: 2**-30 of the log range, far below any rate difference


@dataclass(frozen=True, slots=True)
class Bars:
    """Bars of one symbol in time order (only bars with trades need be present)."""

    open_ms: np.ndarray  # int64
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return int(self.open_ms.shape[0])


@dataclass(frozen=True, slots=True)
class FillRate:
    """How resting orders fared: shares of orders filled fully or at all, and of amount."""

    orders: int
    filled_share: float  # orders filled completely within the horizon
    any_fill_share: float  # orders with some fill
    amount_share: float  # filled amount / ordered amount

    def as_dict(self) -> dict[str, float | int]:
        """Plain numbers, for --json."""
        return {"orders": self.orders, "filled_share": self.filled_share,
                "any_fill_share": self.any_fill_share, "amount_share": self.amount_share}


def bars_from_tape(tape: Tape, bar_ms: int) -> Bars:
    """OHLCV bars of `bar_ms` from the trades; a bar without trades is left out."""
    bucket = tape.ts_ms // bar_ms
    starts = np.flatnonzero(np.concatenate([[True], bucket[1:] != bucket[:-1]]))
    ends = np.append(starts[1:], len(tape)) - 1
    return Bars(bucket[starts] * bar_ms, tape.price[starts].copy(),
                np.maximum.reduceat(tape.price, starts), np.minimum.reduceat(tape.price, starts),
                tape.price[ends].copy(), np.add.reduceat(tape.amount, starts))


def fill_rate(amount: np.ndarray, filled: np.ndarray, lot: float) -> FillRate:
    """The shares for orders of `amount` that got `filled` (NaN shares when none)."""
    if amount.shape[0] == 0:
        return FillRate(0, float("nan"), float("nan"), float("nan"))
    return FillRate(int(amount.shape[0]), float(np.mean(filled >= amount - 0.5 * lot)),
                    float(np.mean(filled > 0)), float(filled.sum() / amount.sum()))


def model_market(bars: Bars, params: fills.FillParams, tick: float,
                 spread: float | None = None) -> fills.MarketArrays:
    """The fill model's market on `bars`: its touch at each open priced with the relative
    `spread` (None: `bar_spread_ticks` ticks), as a backtest would synthesize it."""
    return fills.market_from_bars(
        bars.open_ms, bars.open, bars.high, bars.low, bars.close, bars.volume, tick, params,
        spread=None if spread is None else np.full(len(bars), spread))


def judged_spread(bars: Bars, placed_ms: np.ndarray) -> float:
    """The relative spread a backtest would price this symbol with (model/costs.py, from
    the bars before the traded window): estimated from the bars before the first placement
    of the judged (second) half, so the out-of-sample half reads no cost from its own bars.
    0.0 where too few bars give no estimate (the one-tick floor then applies)."""
    before = bars.open_ms < _judged_from_ms(placed_ms)
    return costs.estimate_spread(bars.high[before], bars.low[before], bars.close[before])


def model_fills(bars: Bars, start_bar: np.ndarray, side: np.ndarray, amount: np.ndarray,
                horizon_ms: int, params: fills.FillParams, tick: float, lot: float,
                spread: float | None = None) -> np.ndarray:
    """The amount the fill model fills of orders resting from the open of `start_bar` at
    its synthesized touch (`model_market`), over the bars that open within `horizon_ms`."""
    market = model_market(bars, params, tick, spread)
    start = np.asarray(start_bar, np.int64)
    price = np.where(side == BUY, market.bid[start], market.ask[start])
    batch = fills.orders(start, side, price, amount, tick, lot, placed_ms=bars.open_ms[start])
    return rest_within(batch, market, bars.open_ms, bars.open_ms[start] + horizon_ms, params)


def predicted(bars: Bars, orders: TouchOrders, horizon_ms: int, params: fills.FillParams,
              tick: float, lot: float, spread: float | None = None,
              ticks: TickMarket | None = None) -> np.ndarray:
    """`model_fills` for tape orders placed at bar opens (same times, sides and amounts);
    with `ticks`, the model meets the orders at their own prices on the tape's ticks
    instead (`tape_ticks.tick_fills`: the touch known, only the queue rule judged)."""
    if ticks is not None:
        return tick_fills(ticks, orders, horizon_ms, params, tick, lot)
    start = np.searchsorted(bars.open_ms, orders.placed_ms)
    if np.any(start >= len(bars)) or np.any(bars.open_ms[np.minimum(start, len(bars) - 1)]
                                            != orders.placed_ms):
        raise ValueError("orders must be placed at bar opens for the model to meet them")
    return model_fills(bars, start, orders.side, orders.amount, horizon_ms, params, tick, lot,
                       spread)


def with_param(params: fills.FillParams, name: str, value: float) -> fills.FillParams:
    """`params` with the field `name` set to `value`."""
    changes: dict[str, Any] = {name: value}
    return replace(params, **changes)


def fit_param(name: str, bars: Bars, orders: TouchOrders, tape_amount_share: float,
              horizon_ms: int, params: fills.FillParams, tick: float, lot: float,
              spread: float | None = None, ticks: TickMarket | None = None
              ) -> tuple[float, float]:
    """(value of FillParams.`name`, the model's amount share under it) that brings the
    model's filled-amount share on `orders` to the tape's. The value given in `params`
    stays when it already agrees within FIT_TOLERANCE. Else, the share being monotone in
    either parameter (more queue, fewer fills; a larger cap, more), bisection on a log
    scale finds it; a bound of FIT_RANGES comes back when even it cannot reach the target
    (for the queue: fills through the price ignore it)."""
    def share(log_value: float) -> float:
        trial = with_param(params, name, float(libm.exp(log_value)))
        filled = predicted(bars, orders, horizon_ms, trial, tick, lot, spread, ticks)
        return fill_rate(orders.amount, filled, lot).amount_share - tape_amount_share

    given = float(getattr(params, name))
    at_given = share(float(libm.log(given)))
    if abs(at_given) <= FIT_TOLERANCE * tape_amount_share:
        return given, tape_amount_share + at_given
    low, high = (float(libm.log(bound)) for bound in FIT_RANGES[name])
    at_low, at_high = share(low), share(high)
    if at_low * at_high > 0:  # the target is out of reach: the nearer end
        best = low if abs(at_low) <= abs(at_high) else high
        return float(libm.exp(best)), tape_amount_share + min(at_low, at_high, key=abs)
    for _ in range(FIT_STEPS):
        middle = 0.5 * (low + high)
        at_middle = share(middle)
        if at_middle * at_low > 0:
            low, at_low = middle, at_middle
        else:
            high, at_high = middle, at_middle
    # the nearer end: lots make the share a staircase, whose step the middle may miss
    best, at_best = (low, at_low) if abs(at_low) < abs(at_high) else (high, at_high)
    return float(libm.exp(best)), tape_amount_share + at_best


def sides() -> tuple[tuple[str, int], ...]:
    """The side labels of a report, in order."""
    return (("buy", BUY), ("sell", SELL))


@dataclass(frozen=True, slots=True)
class Fit:
    """A parameter fitted on the training half at one horizon."""

    horizon_ms: int
    name: str  # a FillParams field
    value: float
    train_tape_share: float  # the tape's filled-amount share the fit aimed at
    train_model_share: float  # the model's under the fitted value

    @property
    def reached(self) -> bool:
        """Whether the fitted value brings the model to the tape (else it is a bound)."""
        return abs(self.train_model_share - self.train_tape_share) <= (
            FIT_TOLERANCE * self.train_tape_share)


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    """Tape against model for one horizon, half and side."""

    horizon_ms: int
    subset: str  # "train" (first half of placement times) or "test" (second half)
    side: str  # "buy", "sell" or "both"
    tape: FillRate
    model: FillRate  # under the parameters given
    fitted: dict[str, FillRate]  # parameter name -> the model under its training-half fit

    def gap(self, model: FillRate | None = None) -> float:
        """The model's filled-amount share relative to the tape's: +0.10 = 10 % too many."""
        share = (model or self.model).amount_share
        return share / self.tape.amount_share - 1 if self.tape.amount_share > 0 else float("nan")


@dataclass(frozen=True, slots=True)
class Comparison:
    """Every row and fit of `compare`."""

    rows: tuple[ComparisonRow, ...]
    fits: tuple[Fit, ...]


def first_half(placed_ms: np.ndarray) -> np.ndarray:
    """True for orders placed in the first half of the placement times (the training half:
    the test half lies wholly after it, as it would in use)."""
    return placed_ms < _judged_from_ms(placed_ms)


def _judged_from_ms(placed_ms: np.ndarray) -> int:
    """The first placement time of the judged (second) half; past every time when there is
    only one (all orders then train)."""
    times = np.unique(placed_ms)
    return int(times[len(times) // 2]) if len(times) > 1 else int(np.iinfo(np.int64).max)


def compare(tape: Tape, bars: Bars, orders: TouchOrders, horizons_ms: tuple[int, ...],
            params: fills.FillParams, tick: float, lot: float,
            fit_names: tuple[str, ...] = tuple(FIT_RANGES), spread: float | None = None,
            through: str = "volume", ticks: TickMarket | None = None) -> Comparison:
    """The tape's and the model's fill rates per horizon, half and side; each parameter of
    `fit_names` fitted alone on the training half (both sides pooled) and the model under
    it shown on both halves: the test half is the out-of-sample check. `spread` prices the
    model's touch (`model_market`); `through` is the tape's rule for trades through an
    order's price (model/tape_fills.py). With `ticks` the model runs on the tape's ticks
    (`predicted`), where the bars' queue share has no part: only the passive cap is fitted."""
    if ticks is not None:
        fit_names = tuple(name for name in fit_names if name in TICK_FIT_NAMES)
    train = first_half(orders.placed_ms)
    rows: list[ComparisonRow] = []
    fits: list[Fit] = []
    for horizon_ms in horizons_ms:
        tape_filled = replay(tape, orders, horizon_ms, tick, through)
        model_filled = predicted(bars, orders, horizon_ms, params, tick, lot, spread, ticks)
        train_orders = orders.take(train)
        target = fill_rate(train_orders.amount, tape_filled[train], lot).amount_share
        fitted_filled: dict[str, np.ndarray] = {}
        for name in fit_names:
            value, share = fit_param(name, bars, train_orders, target, horizon_ms, params,
                                     tick, lot, spread, ticks)
            fits.append(Fit(horizon_ms, name, value, target, share))
            fitted_filled[name] = predicted(bars, orders, horizon_ms,
                                            with_param(params, name, value), tick, lot, spread,
                                            ticks)
        for subset, in_subset in (("train", train), ("test", ~train)):
            for side, rows_of_side in (*((label, orders.side == s) for label, s in sides()),
                                       ("both", np.ones(len(orders), bool))):
                chosen = in_subset & rows_of_side
                amount = orders.amount[chosen]
                rows.append(ComparisonRow(
                    horizon_ms, subset, side, fill_rate(amount, tape_filled[chosen], lot),
                    fill_rate(amount, model_filled[chosen], lot),
                    {name: fill_rate(amount, filled[chosen], lot)
                     for name, filled in fitted_filled.items()}))
    return Comparison(tuple(rows), tuple(fits))
