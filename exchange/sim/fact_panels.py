"""Where the stylized facts' panels come from: a folder of 1m bar files, or the generator.

The real side of `entasis sim report` is a folder in the shared CSV format, read by the
project's checked loader (`load_bar_grid`: its 1m files, else its 1h files); the simulated side is another
such folder or the embedded generator run with the real panel's shape: as many coins and
minutes, starting at the same UTC minute (so hour-of-day profiles line up).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exchange.sim.bar_files import BarFileError, bar_files, load_bar_grid
from exchange.sim.calibrate import simulate_panel
from exchange.sim.generator import GeneratorSource
from exchange.sim.market_params import MarketParams
from exchange.sim.stylized_facts import Panel
from model.market import MINUTE_MS
from model.timeframes import Timeframe

_PANEL_FIELDS = ("open", "high", "low", "close", "quote_volume")


def panel_from_folder(folder: Path) -> Panel:
    """The folder's 1m bar files as a panel, or its 1h files where it has no 1m file (the
    binance_1h set); `BarFileError` naming the folder when it has neither (other
    timeframes in it are ignored)."""
    found = bar_files(Path(folder)) if Path(folder).is_dir() else {}
    timeframe = Timeframe.H1 if Timeframe.M1 not in found and Timeframe.H1 in found \
        else Timeframe.M1
    return Panel.from_grid(load_bar_grid(folder, timeframe))


def generated_panel(*, seed: int, coins: int, minutes: int, start_ms: int,
                    params: MarketParams | None = None) -> Panel:
    """`minutes` of the embedded generator's bars for `coins` coins, the first opening at
    `start_ms` (with `params`, of the calibrated market model); a minute the generator left
    without a trade is NaN, as in real data. Params fitted on 1h bars give `minutes` 1h bars
    of the model itself (the embedded exchange runs 1m bars), at price level 1."""
    if coins < 1 or minutes < 1:
        raise BarFileError(f"cannot generate {coins} coins x {minutes} minutes: both must be "
                           "at least 1")
    if params is not None and params.bar_minutes != 1:
        return simulate_panel(params, minutes=minutes, start_ms=start_ms, seed=seed,
                              coins=coins)
    source = GeneratorSource(seed=seed, coins=coins, history_minutes=minutes,
                             start_ms=start_ms + minutes * MINUTE_MS, ram_minutes=None,
                             params=params)
    rows = slice(0, minutes)
    traded = np.asarray(source.store.column("traded", rows), dtype=bool)
    columns = {name: np.where(traded, source.store.column(name, rows), np.nan)
               for name in _PANEL_FIELDS}
    return Panel(start_ms=start_ms, open=columns["open"], high=columns["high"],
                 low=columns["low"], close=columns["close"], volume=columns["quote_volume"],
                 symbols=tuple(source.symbols))
