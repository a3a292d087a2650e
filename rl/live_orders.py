"""Action names to the trader's orders on real quotes: shared by the live network policies.

The single-coin adapter (rl/live_policy.py) and the portfolio adapter
(rl/portfolio_live_policy.py) both turn an `rl.spaces` action name into `PolicyAction`s with
the same rule, so the offsets mean the same thing whichever network chose them: the env
prices from a synthesized book (bid = last close, ask = bid + 1 tick); live uses the real
quotes and keeps the *meaning* of each offset: BUY+0 joins the bid, BUY+k (k >= 1) lifts the
ask (+ k-1 ticks), BUY-k rests k ticks below the bid; SELL+0 joins the ask, SELL+k hits the
bid (- k-1 ticks), SELL-k rests k ticks above the ask. With a one-tick spread this is exactly
the env's formula. Like the env, a new BUY/SELL first cancels the symbol's resting orders,
and an action with nothing to act on is a HOLD.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rl.spaces import grid_price
from strategies.policy import Action, DecisionView, Holding, PolicyAction

if TYPE_CHECKING:
    from model.instruments import Instrument


class LimitOrderMapping:
    """Mixin: `to_actions` and `limit_price` for a policy that has `instruments` (symbol ->
    Instrument, for the tick), `stop_pct` (the env's sizing stop distance) and
    `size_by_probability` (a BUY's confidence = the action's probability, else 1)."""

    instruments: Mapping[str, Instrument]
    stop_pct: float
    size_by_probability: bool

    def to_actions(self, view: DecisionView, symbol: str, name: str, probability: float,
                   reason: str) -> list[PolicyAction]:
        """PolicyActions for one action name (module docstring)."""
        resting = [o for o in view.open_orders if o.symbol == symbol]
        if name in ("CANCEL_BUY", "CANCEL_SELL"):
            side = "BUY" if name == "CANCEL_BUY" else "SELL"
            kind = Action.CANCEL_BUY if side == "BUY" else Action.CANCEL_SELL
            mine = [o for o in resting if o.side == side]
            if not mine:
                return [PolicyAction(symbol, Action.HOLD, reason=f"{reason} (no {side} order)")]
            return [PolicyAction(symbol, kind, client_order_id=o.client_order_id, reason=reason)
                    for o in mine]
        if name == "HOLD":
            return [PolicyAction(symbol, Action.HOLD, reason=reason)]
        side = "BUY" if name.startswith("BUY") else "SELL"
        offset = int(name[len(side):])  # "BUY+1" -> 1, "SELL-1" -> -1
        quote = view.quotes[symbol]
        holding: Holding | None = view.holdings.get(symbol)
        if side == "SELL" and (holding is None or holding.amount <= 0):
            return [PolicyAction(symbol, Action.HOLD, reason=f"{reason} (nothing held)")]
        price = self.limit_price(symbol, side, offset, quote.last, quote.bid, quote.ask)
        cancels = [PolicyAction(symbol, Action.CANCEL_BUY if o.side == "BUY"
                                else Action.CANCEL_SELL, client_order_id=o.client_order_id,
                                reason=f"{reason} (replaced)") for o in resting]
        if side == "BUY":
            confidence = min(max(probability, 0.0), 1.0) if self.size_by_probability else 1.0
            return [*cancels, PolicyAction(symbol, Action.BUY, limit_price=price,
                                           stop_price=price * (1 - self.stop_pct / 100),
                                           confidence=confidence, reason=reason)]
        return [*cancels, PolicyAction(symbol, Action.SELL, limit_price=price, exit=True,
                                       reason=reason)]

    def limit_price(self, symbol: str, side: str, offset: int, last: float, bid: float,
                    ask: float) -> float:
        """The limit of BUY/SELL at `offset` ticks of aggressiveness (module docstring)."""
        tick = self._tick(symbol, last, bid, ask)
        if not (math.isfinite(bid) and bid > 0):
            bid = round(last / tick) * tick  # the env's synthesized book
        if not (math.isfinite(ask) and ask > bid):
            ask = bid + tick
        if side == "BUY":
            price = bid + offset * tick if offset <= 0 else ask + (offset - 1) * tick
        else:
            price = ask - offset * tick if offset <= 0 else bid - (offset - 1) * tick
        return grid_price(max(round(price / tick), 1), tick)

    def _tick(self, symbol: str, last: float, bid: float, ask: float) -> float:
        """The instrument's tick; without one, the quoted spread (or 1 bp of the price)."""
        instrument = self.instruments.get(symbol)
        if instrument is not None:
            return float(instrument.tick_at(last))
        spread = ask - bid
        return spread if math.isfinite(spread) and spread > 0 else abs(last) * 1e-4
