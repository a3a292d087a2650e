"""Write a seeded generated market to a folder of replay CSVs (a helper, not a benchmark).

`write_market(folder, coins=20, minutes=2160, seed=7, quote="USDT")` generates a market with
`exchange.sim.generator.GeneratorSource`, keeps only the first `coins` symbols quoted in
`quote` (the backtest trades only the dominant quote's symbols, so every written coin is
tradable), and writes one `<BASE>_<QUOTE>-1m.csv.gz` per coin with the columns
`timestamp_ms,open,high,low,close,volume` that `exchange.sim.replay.ReplaySource` reads.
Prices and volumes are written with exactly the decimals of the coin's tick and lot, so the
replay infers the generator's trading rules back. Same arguments, same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from exchange.sim.catalog import build_catalog
from exchange.sim.generator import GeneratorSource

START_MS = 1_700_006_400_000  # a whole UTC day (2023-11-15 00:00)
_MAX_MARKET = 2_000


def _market_size(seed: int, coins: int, quote: str) -> int:
    """Smallest generated market with `coins` symbols quoted in `quote` (the catalog is
    deterministic for a seed, so this is cheap and stable)."""
    size = coins
    while size <= _MAX_MARKET:
        rng = np.random.default_rng(seed).spawn(3)[0]  # the generator's catalog stream
        if sum(s.instrument.quote == quote for s in build_catalog(size, rng)) >= coins:
            return size
        size += max(coins, size // 2)
    raise ValueError(f"no market of <= {_MAX_MARKET} coins has {coins} {quote} coins")


def write_market(
    folder: Path, *, coins: int = 20, minutes: int = 2160, seed: int = 7, quote: str = "USDT"
) -> list[str]:
    """Write `coins` `quote`-quoted coins x `minutes` 1m bars ending at START_MS; return the
    symbols written."""
    folder.mkdir(parents=True, exist_ok=True)
    source = GeneratorSource(seed=seed, coins=_market_size(seed, coins, quote),
                             history_minutes=minutes, start_ms=START_MS)
    picked = [i for i, inst in enumerate(source.instruments) if inst.quote == quote][:coins]
    rows = slice(0, source.store.rows)
    stamps = source.store.first_open_ms + np.arange(source.store.rows, dtype=np.int64) * 60_000
    written = []
    for index in picked:
        inst = source.instruments[index]
        # int(): typeshed allows the 'n'/'N'/'F' of NaN and infinity; a tick is finite.
        price_decimals = max(0, -int(inst.tick.normalize().as_tuple().exponent))
        lot_decimals = max(0, -int(inst.lot.normalize().as_tuple().exponent))
        frame = pd.DataFrame({"timestamp_ms": stamps})
        for field in ("open", "high", "low", "close"):
            frame[field] = np.round(source.store.column(field, rows, index), price_decimals)
        frame["volume"] = np.round(source.store.column("volume", rows, index), lot_decimals)
        frame.to_csv(folder / f"{inst.base}_{inst.quote}-1m.csv.gz", index=False)
        written.append(inst.symbol)
    return written
