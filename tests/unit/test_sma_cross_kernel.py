"""`SmaCrossPolicy` (strategies/sma_cross.py) keeps every coin's window in one ring and
compares the averages in one compiled call; its actions must be, step for step, what the
per-coin deque form gives (`_DequeSma` below, the policy as it was written first): same
actions, same order, same prices, whatever the prices (NaN, inf, zero, negative, coarse
prices whose averages tie), the coins in view (coins leaving and coming back, new coins),
the orders working (a flip cancels first and acts a step later) and the windows
(fast > slow included)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.policy import Action, DecisionView, Holding, PolicyAction, Quote, RestingOrder
from strategies.sma_cross import SmaCrossPolicy
from trading.decision_view import LazyQuotes

MIN = 60_000
COINS = ("AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT")


def _usable(price: float) -> bool:
    return math.isfinite(price) and price > 0


@dataclass
class _DequeSma:
    """The definition: a deque of each coin's last `slow` usable prices, summed per step."""

    fast: int = 20
    slow: int = 50
    stop_return_pct: float = 2.0
    slippage_pct: float = 0.5
    _closes: dict[str, deque[float]] = field(default_factory=dict)
    _above: dict[str, bool] = field(default_factory=dict)

    def decide(self, view: DecisionView) -> list[PolicyAction]:
        ordered = {o.symbol: o for o in view.open_orders}
        actions = []
        for symbol in view.symbols:
            quote = view.quotes.get(symbol)
            if quote is None or not _usable(quote.last):
                continue
            closes = self._closes.setdefault(symbol, deque(maxlen=self.slow))
            closes.append(quote.last)
            if len(closes) < self.slow:
                continue
            history = list(closes)
            above = sum(history[-self.fast:]) / self.fast > sum(history) / self.slow
            was_above = self._above.get(symbol)
            self._above[symbol] = above
            if was_above is None or above == was_above:
                continue
            stale = ordered.get(symbol)
            if stale is not None:
                kind = Action.CANCEL_BUY if stale.side == "BUY" else Action.CANCEL_SELL
                actions.append(PolicyAction(symbol, kind, client_order_id=stale.client_order_id,
                                            reason="signal flipped"))
                self._above[symbol] = was_above
                continue
            held = symbol in view.holdings
            if above and not held and _usable(quote.ask):
                actions.append(PolicyAction(symbol, Action.BUY,
                                            limit_price=quote.ask * (1 + self.slippage_pct / 100),
                                            stop_price=quote.ask * (1 - self.stop_return_pct / 100),
                                            reason=f"SMA{self.fast} crossed above SMA{self.slow}"))
            elif not above and held and _usable(quote.bid):
                actions.append(PolicyAction(symbol, Action.SELL,
                                            limit_price=quote.bid * (1 - self.slippage_pct / 100),
                                            exit=True,
                                            reason=f"SMA{self.fast} crossed below SMA{self.slow}"))
        return actions


def _view(k: int, symbols: tuple[str, ...], prices: dict[str, float], lazy: bool,
          holdings: dict[str, Holding], orders: tuple[RestingOrder, ...]) -> DecisionView:
    quoted = [s for s in symbols if s in prices]
    if lazy:  # the engine's mapping: NaN and inf lasts are "no quote"
        rows = {s: i for i, s in enumerate(quoted)}
        lasts = [prices[s] for s in quoted]
        quotes = LazyQuotes(rows, lasts, [p - 0.01 for p in lasts], [p + 0.01 for p in lasts])
    else:  # any other mapping (a test's dict): a quote whatever its last
        quotes = {s: Quote(prices[s], prices[s] - 0.01, prices[s] + 0.01) for s in quoted}
    return DecisionView(ts_ms=k * MIN, symbols=symbols, features=np.zeros((len(symbols), 1)),
                        feature_names=("x",), ranking=(), quotes=quotes, holdings=holdings,
                        open_orders=orders, equity=1e4)


def _play(seed: int, fast: int, slow: int, steps: int, lazy: bool) -> None:
    rng = np.random.default_rng(seed)
    ours, definition = SmaCrossPolicy(fast=fast, slow=slow), _DequeSma(fast=fast, slow=slow)
    level = dict.fromkeys(COINS, 10.0)
    holdings: dict[str, Holding] = {}
    orders: tuple[RestingOrder, ...] = ()
    flips = 0
    for k in range(steps):
        # coins in view: all, or some (leaving and coming back), new ones from step 30
        symbols = COINS if k < 30 or rng.random() < 0.6 else tuple(
            s for s in COINS if rng.random() < 0.7)
        prices: dict[str, float] = {}
        for s in symbols:
            level[s] = max(0.5, level[s] + round(float(rng.normal()), 1))  # coarse: ties
            odd = rng.random()
            prices[s] = (math.nan if odd < 0.03 else math.inf if odd < 0.05 else 0.0
                         if odd < 0.06 else -1.0 if odd < 0.07 else level[s])
        if rng.random() < 0.2:  # sometimes no quote at all
            prices.pop(COINS[int(rng.integers(len(COINS)))], None)
        view = _view(k, symbols, prices, lazy, holdings, orders)
        got, want = ours.decide(view), definition.decide(view)
        assert got == want, f"step {k}"
        flips += len(want)
        for action in want:  # the account moves as the actions say, half the time late
            if action.action is Action.BUY:
                holdings = {**holdings, action.symbol: Holding(1.0, 10.0, k * MIN)}
            elif action.action is Action.SELL:
                holdings = {s: h for s, h in holdings.items() if s != action.symbol}
        orders = tuple(RestingOrder(f"E-{k}", a.symbol, "BUY" if a.action is Action.BUY
                                    else "SELL", 10.0, 1.0, k * MIN)
                       for a in want if a.action in (Action.BUY, Action.SELL)
                       and rng.random() < 0.5)
    # the run crossed, so the comparisons were exercised (SMA(fast) >= its own window's
    # average only ever crosses when fast < slow)
    assert flips > 0 or fast >= slow


@pytest.mark.parametrize(("fast", "slow"), [(20, 50), (3, 7), (5, 5), (1, 2), (8, 4)])
@pytest.mark.parametrize("lazy", [True, False])
def test_the_ring_policy_acts_as_the_deque_policy(fast: int, slow: int, lazy: bool) -> None:
    for seed in range(3):
        _play(seed, fast, slow, 400, lazy)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(1, 9))
def test_any_seed_and_windows(seed: int, fast: int, slow: int) -> None:
    _play(seed, fast, slow, 150, lazy=bool(seed % 2))
