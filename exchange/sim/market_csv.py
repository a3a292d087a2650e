"""A generated market written as 1m bar files in the shared format (`sim generate`).

One `<BASE>_<QUOTE>-1m.csv.gz` per symbol with `timestamp_ms,open,high,low,close,volume`,
prices and volumes with exactly the decimals of the coin's tick and lot (so a reader infers
the same trading rules back), and no row for a minute without a trade, as real exchange
files leave them out. Each file is written under a temporary name and renamed, so a reader
(or an interrupted run) never sees half a file. The bars are those `GeneratorSource` holds
with the same seed, coins and params: the market `entasis sim-server --params` serves.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from exchange.sim.generator import GeneratorSource
from exchange.sim.market_params import MarketParams
from model.market import MINUTE_MS

PRICE_FIELDS = ("open", "high", "low", "close")


def write_generated_market(folder: Path, params: MarketParams, *, coins: int, minutes: int,
                           seed: int, start_ms: int) -> list[Path]:
    """Generate `minutes` 1m bars of `coins` symbols from `start_ms` and write one file per
    symbol into `folder`; return the files written, in the catalog's order."""
    if minutes < 1 or coins < 1:
        raise ValueError(f"need at least one coin and one minute, not {coins} x {minutes}")
    source = GeneratorSource(seed=seed, coins=coins, history_minutes=minutes,
                             start_ms=start_ms + minutes * MINUTE_MS, ram_minutes=None,
                             params=params)
    folder.mkdir(parents=True, exist_ok=True)
    rows = slice(0, source.store.rows)
    stamps = source.store.first_open_ms + MINUTE_MS * np.arange(source.store.rows, dtype=np.int64)
    written = []
    for index, instrument in enumerate(source.instruments):
        traded = np.asarray(source.store.column("traded", rows, index), bool)
        price_decimals = max(0, -int(instrument.tick.normalize().as_tuple().exponent))
        lot_decimals = max(0, -int(instrument.lot.normalize().as_tuple().exponent))
        frame = pd.DataFrame({"timestamp_ms": stamps[traded]})
        for field in PRICE_FIELDS:
            frame[field] = np.round(source.store.column(field, rows, index)[traded],
                                    price_decimals)
        frame["volume"] = np.round(source.store.column("volume", rows, index)[traded],
                                   lot_decimals)
        target = folder / f"{instrument.base}_{instrument.quote}-1m.csv.gz"
        temporary = folder / f".{target.name}.{os.getpid()}.tmp"
        try:
            frame.to_csv(temporary, index=False, compression="gzip")
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        written.append(target)
    return written
