"""What a step's fills cost beyond the mid, for the training reward's cost margin.

Why (issue 17, ADR-096): every policy must enter only when its expected edge beats the round
trip's cost by a margin. A rule-based policy has an edge estimate and gates on it
(strategies/edge.py); an RL policy has none, so the margin goes into what it learns from: the
reward already pays every cost once (log growth of equity after fees, spread and slippage
through the fill model), and with `cost_margin` m it pays them m times more as shaping:

    reward = (log growth - drawdown penalty - m x cost / equity before the bar) x scale

so a trade is worth learning only if its expected gain beats cost x (1 + m). Equity, fills
and fees are never touched: the margin is a shaping term of the reward alone.

The cost of one fill (`fill_costs`), in quote:

- its fee, as booked;
- half the spread of the book the fill model gave the bar (bid = the open, ask = the open
  plus the calibrated spread in whole ticks, never under `bar_spread_ticks`:
  `model.fill_kernel.bar_book`, `model.costs.spread_ticks`) x the amount: the distance from
  the mid to the touch, which a fill at the touch pays whichever side rests. A round trip
  pays the whole quoted spread, as strategies/edge.py charges it;
- the slippage: how far its average price lies beyond the touch (above the ask for a buy,
  below the bid for a sell) x the amount, the walk of the synthesized book; 0 for a fill at
  or inside the touch.

Not |fill price - mid| of the bar's open: a resting limit fills where the bar's path meets
it, perhaps far from the open, and that distance is the price moving to the order (the mark
already rewards or punishes it), not a cost of trading. For a fill at the touch the two
agree.
"""

from __future__ import annotations

import numpy as np

from model import costs


def fill_costs(fills: np.ndarray, fill_notional: np.ndarray, fill_fees: np.ndarray,
               open_: np.ndarray, spread: np.ndarray, tick: np.ndarray,
               floor_ticks: float) -> np.ndarray:
    """Each fill's fee + half spread + slippage, in quote (module docstring); 0 where
    nothing filled. Arrays broadcast together: `fills` signed base (+ bought, - sold),
    `open_` the open of the bar the order met (its book's bid), `spread` relative."""
    amount = np.abs(fills)
    filled = amount > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        width = costs.spread_ticks(spread, open_, tick, floor_ticks) * tick
        bid, ask = open_, open_ + width
        average = fill_notional / amount
        beyond = np.where(fills > 0, average - ask, bid - average)
        cost = fill_fees + (width / 2 + np.maximum(beyond, 0.0)) * amount
    return np.where(filled, cost, 0.0)


def margin_penalty(cost: np.ndarray, equity_before: np.ndarray, margin: float,
                   reward_scale: float) -> np.ndarray:
    """The reward's cost-margin term: margin x cost as a share of the equity before the
    bar, scaled like the rest of the reward."""
    return margin * (cost / equity_before) * reward_scale


__all__ = ["fill_costs", "margin_penalty"]
