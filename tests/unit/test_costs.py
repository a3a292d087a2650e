"""Spread costs from bars (model/costs.py) and how the one fill model, the paper broker and
the fast backtester's market charge them: a taker pays the symbol's estimated spread on a
bar, not one tick, and an estimate reads only the rows before the traded window."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exchange.brokers.sim import PaperBroker
from exchange.sim.replay import REPLAY_SPREAD_BPS, ReplayError, ReplaySource
from model import costs, fills
from model.fills import FillParams
from model.instruments import Instrument, Side
from model.market import Bar
from model.orders import Filled, OrderRequest, OrderType
from strategies.features_batch import BarGrid
from tests.unit.test_spread_estimators import SPREAD, roll_model_bars
from trading.fast_market import FastMarket, spreads_before

BTC = Instrument(symbol="BTCUSDT", base="BTC", quote="USDT", tick=Decimal("0.01"),
                 lot=Decimal("0.00001"), min_notional=Decimal("5"), min_qty=Decimal("0.00001"),
                 max_qty=Decimal("9000"))


def test_the_estimate_recovers_a_roll_markets_spread() -> None:
    high, low, close = roll_model_bars(seed=4, minutes=5_000)
    assert costs.estimate_spread(high, low, close) == pytest.approx(SPREAD, rel=0.10)


def test_too_few_bars_or_no_spread_shown_give_zero_so_only_the_tick_floor_is_charged() -> None:
    high, low, close = roll_model_bars(seed=4, minutes=costs.MIN_SPREAD_BARS - 1)
    assert costs.estimate_spread(high, low, close) == 0.0
    flat = np.full(500, 100.0)
    assert costs.estimate_spread(flat, flat, flat) == 0.0
    assert costs.estimate_spread(*(np.full(500, np.nan),) * 3) == 0.0


def test_spread_ticks_round_the_relative_spread_to_whole_ticks_never_below_the_floor() -> None:
    ticks = costs.spread_ticks(np.array([0.0033, 0.0, np.nan, 0.00001]), 100.0, 0.01)
    assert ticks.tolist() == [33.0, 1.0, 1.0, 1.0]
    assert costs.spread_ticks(0.0033, 100.0, 0.01, floor_ticks=40).tolist() == 40.0


def test_the_estimates_are_per_column_and_read_no_row_after_the_cut() -> None:
    columns = [roll_model_bars(seed=s, minutes=2_000, spread=w) for s, w in
               ((1, 0.002), (2, 0.006))]
    high, low, close = (np.column_stack([c[i] for c in columns]) for i in range(3))
    before = costs.estimate_spreads(high[:1_000], low[:1_000], close[:1_000])
    assert before == pytest.approx([0.002, 0.006], rel=0.15)
    changed_after = [a.copy() for a in (high, low, close)]
    for a in changed_after:
        a[1_000:] *= 3.0
    grid = BarGrid(symbols=("AUSDT", "BUSDT"), start_ms=0, bar_ms=60_000, open=close,
                   high=changed_after[0], low=changed_after[1], close=changed_after[2],
                   quote_volume=np.ones_like(close))
    assert spreads_before(grid, 1_000).tolist() == before.tolist()


def _marketable_buy_on_a_bar(spread: list[float] | None) -> float:
    """The price a buy limited far above the open pays on one bar, through the fill model."""
    market = fills.market_from_bars([0], [100.0], [100.5], [99.5], [100.2], [50.0], [0.01],
                                    FillParams(), spread)
    orders = fills.orders([0], [fills.BUY], [101.0], [0.1], 0.01, 0.00001)
    result = fills.match(orders, market, FillParams())
    return float(result.notional[0] / result.amount[0])


def test_a_taker_on_a_bar_pays_the_symbols_spread_not_one_tick() -> None:
    assert _marketable_buy_on_a_bar(None) == pytest.approx(100.01)
    assert _marketable_buy_on_a_bar([0.0033]) == pytest.approx(100.33)


def test_the_paper_broker_charges_each_symbols_spread_on_bars() -> None:
    def bought_at(spreads: dict[str, float] | None) -> Decimal:
        broker = PaperBroker([BTC], FillParams(), {"USDT": Decimal(10_000)}, spreads=spreads)
        broker.submit(OrderRequest("c1", "BTCUSDT", Side.BUY, OrderType.LIMIT,
                                   Decimal("0.1"), Decimal("101"), 0))
        bar = Bar("BTCUSDT", 60_000, 100.0, 100.5, 99.5, 100.2, 50.0, 5_000.0)
        filled = [e for e in broker.on_bars([bar]) if isinstance(e, Filled)]
        assert filled, "the marketable buy fills on the bar"
        return filled[0].price

    assert bought_at(None) == Decimal("100.01")
    assert bought_at({"BTCUSDT": 0.0033}) == Decimal("100.33")


def test_a_grid_market_quotes_the_ask_at_the_close_plus_the_spread() -> None:
    close = np.array([[100.0], [200.0]])
    grid = BarGrid(symbols=("BTCUSDT",), start_ms=0, bar_ms=3_600_000, open=close, high=close,
                   low=close, close=close, quote_volume=np.ones_like(close))
    one_tick = FastMarket.from_grid(grid, (BTC,))
    priced = FastMarket.from_grid(grid, (BTC,), np.array([0.0033]))
    assert one_tick.ask[:, 0].tolist() == pytest.approx([100.01, 200.01])
    assert priced.ask[:, 0].tolist() == pytest.approx([100.33, 200.66])
    assert priced.spread is not None and priced.spread.tolist() == [0.0033]
    with pytest.raises(ValueError, match="one relative spread per symbol"):
        FastMarket.from_grid(grid, (BTC,), np.array([0.1, 0.2]))


def test_a_replay_with_estimated_spreads_quotes_its_ticks_at_the_warmup_bars_spread(
        tmp_path: Path) -> None:
    """The replay's synthesized quotes widen with each bar's range and a noise; their mean
    spread over the played minutes is the spread the warm-up bars imply."""
    high, low, close = roll_model_bars(seed=7, minutes=4_000)
    open_ = np.concatenate([[close[0]], close[:-1]])
    high, low = np.maximum(high, open_), np.minimum(low, open_)
    frame = pd.DataFrame({"timestamp_ms": 1_700_006_400_000 + 60_000 * np.arange(4_000),
                          "open": open_.round(2), "high": high.round(2), "low": low.round(2),
                          "close": close.round(2), "volume": 10.0})
    frame.to_csv(tmp_path / "AAA_USDT-1m.csv", index=False)
    fixed = ReplaySource.from_dir(tmp_path, warmup_minutes=1_440)
    assert fixed.spread is None and fixed.spread_bps().tolist() == [REPLAY_SPREAD_BPS]
    source = ReplaySource.from_dir(tmp_path, warmup_minutes=1_440, spread="estimated")
    assert source.spread is not None and source.spread[0] == pytest.approx(SPREAD, rel=0.15)
    quoted = []
    while (minute := source.advance()) is not None:
        bid, ask = minute.ticks.bid, minute.ticks.ask
        quoted.extend(((ask - bid) / ((ask + bid) / 2)).ravel().tolist())
    assert np.mean(quoted) == pytest.approx(source.spread[0], rel=0.15)
    with pytest.raises(ReplayError, match="use one of estimated, fixed"):
        ReplaySource.from_dir(tmp_path, spread="wide")
