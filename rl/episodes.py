"""Market data for training episodes: one symbol universe on one full minute grid.

`MarketData` is what `rl/env.py` steps through. It holds the raw bars (which the fill model
meets) and the live feature matrix computed by the very functions the engine uses
(`features_from_history`, row t = what `FeatureBook.matrix()` shows once bar t closed), so a
policy trained here sees in training exactly the numbers it will see live.

Two sources, one layout:
* `from_csv_dir`: recorded OHLCV (the replay format) via `ReplaySource`, so tick and lot are
  inferred exactly as the replay exchange infers them and prices sit on the same grid.
* `from_generator`: the seeded regime-switching simulator (`GeneratorSource`); `stack` puts
  several seeds side by side as extra symbols, which is the domain randomization: different
  coin catalogs, different regime paths, one env batch.

A minute without a trade (replay gap) becomes a flat zero-volume bar at the previous close:
the fill model then fills nothing passive and takes nothing (top-of-book size is a share of
volume), which is what "no trade that minute" means. Rows before a coin's first bar stay NaN;
the env never starts an episode there (`first_valid`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from exchange.sim.generator import GeneratorSource
from exchange.sim.market_params import MarketParams
from exchange.sim.replay import ReplaySource
from model.costs import SPREAD_SOURCES, estimate_spreads
from model.instruments import Instrument
from model.market import MINUTE_MS
from strategies.features_batch import MinuteGrid, features_from_history
from strategies.windows import AVERAGE_WINDOWS, RANGE_WINDOWS, RETURN_WINDOWS

#: Generated histories end here (2024-01-01 UTC); only the hour-of-day profile depends on it.
GENERATOR_END_MS = 1_704_067_200_000
#: The longest window any feature looks back over (30 days): an embargo this long means no
#: test observation shares a single bar with a training episode.
LONGEST_FEATURE_WINDOW_MINUTES = max(*AVERAGE_WINDOWS, *RETURN_WINDOWS, *RANGE_WINDOWS)
_ROW_FIELDS = ("open_ms", "open", "high", "low", "close", "volume", "features")


@dataclass(frozen=True)
class MarketData:
    """Bars and live features of `symbols` on one minute grid (row t opens at open_ms[t])."""

    symbols: tuple[str, ...]
    open_ms: np.ndarray  # int64 [T]
    open: np.ndarray  # float64 [T, n]; NaN before a coin's first bar
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # base amount; 0 on minutes without a trade
    tick: np.ndarray  # float64 [n]
    lot: np.ndarray  # float64 [n]
    features: np.ndarray  # float64 [T, n, F], FEATURE_NAMES order; row t known after bar t
    warmup_minutes: int = 0  # leading rows that are history only (no episode starts there)
    regime: np.ndarray | None = None  # int8 [T] generator regime index (diagnostics only)
    extra: np.ndarray | None = None  # float [T, n, E]: forecast, anomaly score, ... (hook)
    min_notional: np.ndarray | None = None  # float64 [n] exchange minimum order value; None = 0
    # float64 [n] each symbol's relative bid-ask spread for a bar's book (model/costs.py),
    # read from the warm-up bars; None = one tick, the fill model's `bar_spread_ticks`
    spread: np.ndarray | None = None

    def __post_init__(self) -> None:
        length, n = self.close.shape
        if self.min_notional is None:  # frozen: set the documented default once, here
            object.__setattr__(self, "min_notional", np.zeros(n))
        elif np.shape(self.min_notional) != (n,):
            raise ValueError(f"min_notional must be [n] = [{n}], got {np.shape(self.min_notional)}")
        if self.spread is not None and np.shape(self.spread) != (n,):
            raise ValueError(f"spread must be [n] = [{n}], got {np.shape(self.spread)}")
        if self.features.shape[:2] != (length, n) or self.open_ms.shape != (length,):
            raise ValueError("features/open_ms must be [T, n, F] / [T] like close [T, n]")
        if self.extra is not None and self.extra.shape[:2] != (length, n):
            raise ValueError(f"extra columns must be [T, n, E], got {self.extra.shape}")

    def __len__(self) -> int:
        return int(self.close.shape[0])

    @property
    def first_valid(self) -> np.ndarray:
        """Row of each symbol's first bar (len(self) when it never traded)."""
        valid = np.isfinite(self.close)
        return np.where(valid.any(axis=0), valid.argmax(axis=0), len(self)).astype(np.int64)

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_csv_dir(cls, path: str | Path, *, warmup_minutes: int = 1440,
                     spread: str = "estimated") -> MarketData:
        """Recorded `<BASE>_<QUOTE>-1m.csv[.gz]` files; like the replay exchange, at most
        half of the data is warm-up, and `spread` "estimated" prices each symbol's bar book
        at the spread its warm-up bars imply (as a backtest of the folder does)."""
        source = ReplaySource.from_dir(path, warmup_minutes=warmup_minutes, spread=spread)
        rows = slice(0, source.store.rows)
        traded = source.store.column("traded", rows).astype(bool)
        columns = {f: source.store.column(f, rows).astype(np.float64)
                   for f in ("open", "high", "low", "close", "volume", "quote_volume")}
        warmup = min(warmup_minutes, source.store.rows // 2)
        data = cls._from_columns(tuple(source.symbols), source.store.first_open_ms, columns,
                                 traded, source.tick, source.lot, warmup, None,
                                 _min_notionals(source.instruments))
        return data if source.spread is None else replace(data, spread=source.spread.copy())

    @classmethod
    def from_generator(cls, seed: int, coins: int, minutes: int, *,
                       warmup_minutes: int = 1440, params: MarketParams | None = None,
                       spread: str = "fixed") -> MarketData:
        """`minutes` of the seeded simulated market (all regimes, jumps, intraday profile);
        with `params`, of the calibrated market model (`exchange/sim/market_model.py`),
        whose quiet minutes are gaps as in recorded data. `spread` "estimated" prices each
        symbol's bar book at the spread its warm-up bars imply, as `from_csv_dir` does, so
        a policy meets the same costs on a simulated market as on a recorded one."""
        if spread not in SPREAD_SOURCES:
            raise ValueError(f"spread {spread!r}: use one of {', '.join(SPREAD_SOURCES)}")
        source = GeneratorSource(seed=seed, coins=coins, history_minutes=minutes,
                                 start_ms=GENERATOR_END_MS, params=params)
        rows = slice(0, source.store.rows)
        columns = {f: source.store.column(f, rows).astype(np.float64)
                   for f in ("open", "high", "low", "close", "volume", "quote_volume")}
        traded = source.store.column("traded", rows).astype(bool)
        warmup = min(warmup_minutes, minutes // 2)
        data = cls._from_columns(tuple(source.symbols), source.store.first_open_ms, columns,
                                 traded, source.tick, source.lot, warmup, source.regimes(),
                                 _min_notionals(source.instruments))
        if spread == "fixed":
            return data
        bars = {f: np.where(traded[:warmup], columns[f][:warmup], np.nan)
                for f in ("high", "low", "close")}
        return replace(data, spread=estimate_spreads(bars["high"], bars["low"], bars["close"]))

    @classmethod
    def _from_columns(cls, symbols: tuple[str, ...], first_open_ms: int,
                      columns: dict[str, np.ndarray], traded: np.ndarray, tick: np.ndarray,
                      lot: np.ndarray, warmup: int, regime: np.ndarray | None,
                      min_notional: np.ndarray) -> MarketData:
        """Features from the gapped grid (the live rule for gaps), then flat-fill the bars."""
        nan = np.nan
        grid = MinuteGrid(
            symbols=symbols, start_ms=int(first_open_ms),
            **{f: np.where(traded, columns[f], nan)
               for f in ("open", "high", "low", "close", "quote_volume")},
        )
        features = features_from_history(grid)
        length = traded.shape[0]
        newest = np.maximum.accumulate(np.where(traded, np.arange(length)[:, None], 0), axis=0)
        seen = np.maximum.accumulate(traded, axis=0)
        last_close = np.where(seen, np.take_along_axis(columns["close"], newest, axis=0), nan)
        bars = {f: np.where(traded, columns[f], last_close) for f in ("open", "high", "low",
                                                                      "close")}
        return cls(
            symbols=symbols,
            open_ms=int(first_open_ms) + MINUTE_MS * np.arange(length, dtype=np.int64),
            volume=np.where(traded, columns["volume"], 0.0),
            tick=np.asarray(tick, np.float64).copy(), lot=np.asarray(lot, np.float64).copy(),
            features=features, warmup_minutes=int(warmup), regime=regime,
            min_notional=min_notional, **bars,
        )

    @classmethod
    def stack(cls, parts: list[MarketData]) -> MarketData:
        """Several universes of equal length side by side as one (symbols concatenated,
        suffixed `#k` to stay unique); time is taken from the first. Features are per-coin,
        so stacking does not change any of them."""
        if not parts or len({len(p) for p in parts}) != 1:
            raise ValueError("stack needs at least one MarketData, all of the same length")
        symbols = tuple(f"{s}#{k}" for k, p in enumerate(parts) for s in p.symbols)
        has_extra = [p.extra is not None for p in parts]
        if any(has_extra) and not all(has_extra):
            raise ValueError("either all parts carry extra columns or none does")

        def cat(name: str, axis: int = 1) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts], axis=axis)

        return cls(
            symbols=symbols, open_ms=parts[0].open_ms,
            open=cat("open"), high=cat("high"), low=cat("low"), close=cat("close"),
            volume=cat("volume"), tick=cat("tick", 0), lot=cat("lot", 0),
            features=cat("features"), warmup_minutes=max(p.warmup_minutes for p in parts),
            regime=None, extra=cat("extra") if all(has_extra) else None,
            min_notional=cat("min_notional", 0),
            spread=np.concatenate([np.zeros(len(p.symbols)) if p.spread is None else p.spread
                                   for p in parts]),
        )

    def with_extra(self, columns: np.ndarray) -> MarketData:
        """The same data with extra observation columns [T, n, E] (forecasts, anomaly
        scores). Row t must be computable from bars <= t: the env does not check that."""
        columns = np.asarray(columns, np.float64)
        if columns.ndim == 2:
            columns = columns[:, :, None]
        return replace(self, extra=columns)

    # -- slicing ---------------------------------------------------------------------------
    def rows(self, start: int, stop: int, *, warmup_minutes: int = 0) -> MarketData:
        """Rows [start, stop); features stay as computed on the full history (they only
        ever look back, so slicing cannot leak the future into them)."""
        sliced = {name: getattr(self, name)[start:stop] for name in _ROW_FIELDS}
        return replace(
            self, **sliced, warmup_minutes=warmup_minutes,
            regime=None if self.regime is None else self.regime[start:stop],
            extra=None if self.extra is None else self.extra[start:stop],
        )

    def split(self, *, train_fraction: float, embargo_minutes: int
              ) -> tuple[MarketData, MarketData]:
        """Train = the first `train_fraction` of the episode-able rows, test = the rest after
        an embargo gap. With `embargo_minutes >= LONGEST_FEATURE_WINDOW_MINUTES` no test
        observation looks at a bar any training episode saw (not enforced: small data sets
        cannot afford 30 days; the caller picks the gap and reports it)."""
        if not 0.0 < train_fraction < 1.0 or embargo_minutes < 0:
            raise ValueError("need 0 < train_fraction < 1 and embargo_minutes >= 0")
        usable = len(self) - self.warmup_minutes
        cut = self.warmup_minutes + round(usable * train_fraction)
        test_start = cut + embargo_minutes
        if test_start >= len(self) or cut <= self.warmup_minutes:
            raise ValueError(f"{len(self)} rows cannot hold a {train_fraction:.0%} split with a "
                             f"{embargo_minutes}-minute embargo after {self.warmup_minutes} "
                             "minutes of warm-up")
        return (self.rows(0, cut, warmup_minutes=self.warmup_minutes),
                self.rows(test_start, len(self), warmup_minutes=0))


def _min_notionals(instruments: list[Instrument]) -> np.ndarray:
    """Each instrument's minimum order value (quote), as the exchange filter refuses below it."""
    return np.array([float(i.min_notional) for i in instruments], np.float64)
