"""The fast account puts a fill model level on the order's grids as the paper broker does
(`exchange.brokers.fill_grid.fill_on_grid`), reading the order's float tick and lot."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np

from exchange.brokers.fill_grid import fill_on_grid
from trading.fast_account import _on_grid


def test_a_level_on_the_grids_is_the_paper_brokers_including_what_is_no_fill() -> None:
    rng = np.random.default_rng(4)
    odd = [math.nan, math.inf, -math.inf, 1e308, -1.0, 0.0, 1e-300]
    for _ in range(4000):
        tick = Decimal(int(rng.integers(1, 100))).scaleb(-int(rng.integers(0, 9)))
        lot = Decimal(int(rng.integers(1, 100))).scaleb(-int(rng.integers(0, 9)))
        price = float(rng.choice(odd)) if rng.random() < 0.1 else float(rng.lognormal(0, 4))
        amount = float(rng.choice(odd)) if rng.random() < 0.1 else float(rng.lognormal(0, 4))
        fixed = (0, price, float(tick), float(lot))
        assert _on_grid(price, amount, tick, lot, fixed) == fill_on_grid(price, amount, tick, lot)
