"""The fast backtest's 1m inputs are the numbers the event engine's feed delivers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import exchange.sim.protocol as protocol
from bot.config import load_config
from bot.research.fast_backtest import replay_inputs
from exchange.sim.replay import ReplaySource
from exchange.sim.ticks import floor_to_grid, synthesize_ticks
from tests.replay_data import write_random_walk_market


def test_quotes_and_bars_equal_the_replay_minute_by_minute(tmp_path: Path) -> None:
    """Bid/ask: each minute's last synthesized tick (synthesize_ticks, one call per minute);
    bars: the stored minute with the kline's floored volume; all as parsed from 8-decimal
    strings, bit for bit; NaN where a symbol has no bar."""
    market = write_random_walk_market(tmp_path / "m", coins=3, minutes=1_500, gaps=5)
    inputs = replay_inputs(load_config(None, environ={}), market)
    source = ReplaySource.from_dir(market, spread="estimated")  # the config's default
    shape = inputs.grid.close.shape
    want = {name: np.full(shape, np.nan) for name in ("bid", "ask", "close", "volume")}
    for row in range(source.store.rows):
        bars = source.store.minute(row)
        ticks = synthesize_ticks(bars, source.tick, source.lot, source.spread_bps(),
                                 source.ticks_per_bar, source.seed)
        at = bars.index
        want["bid"][row, at], want["ask"][row, at] = ticks.bid[-1], ticks.ask[-1]
        want["close"][row, at] = bars.close
        want["volume"][row, at] = floor_to_grid(bars.volume * 1.0, source.lot[at])
    got = {"bid": inputs.market.bid, "ask": inputs.market.ask, "close": inputs.grid.close,
           "volume": inputs.market.volume}
    for name, expected in want.items():
        finite = np.isfinite(expected)
        assert np.array_equal(np.isfinite(got[name]), finite), name
        assert np.array_equal(got[name][finite], protocol.num_parsed(expected[finite])), name
    assert not np.isfinite(inputs.grid.close).all(), "the market must have missing minutes"
