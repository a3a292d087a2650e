"""Replay of recorded 1m OHLCV files as a market source.

Files are `<BASE>_<QUOTE>-1m.csv` or `.csv.gz` with columns
`timestamp_ms,open,high,low,close,volume` (the ../shared/data/ohlcv format); other timeframes
are ignored. A missing minute means no trade: no bar is emitted for it. Trading rules are
inferred from the data (tick from the decimals present in prices, lot from the volumes), and
the first `warmup_minutes` (at most half the data) are history served over REST before the
replay clock starts.
"""

from __future__ import annotations

import gzip
import io
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from exchange.sim.bars import BarStore, MinuteData
from exchange.sim.replay_grid import bars_on_grid
from exchange.sim.ticks import NOISE_SCALES, SPREAD_RANGE_WIDENING, synthesize_tick_block
from model import costs, errors, libm
from model.costs import SPREAD_SOURCES
from model.instruments import Instrument
from model.market import MINUTE_MS, BarHistory
from strategies.features_batch import MinuteGrid

FILE_PATTERN = re.compile(r"^([A-Za-z0-9]+)_([A-Za-z0-9]+)-1m\.csv(\.gz)?$")
COLUMNS = ("timestamp_ms", "open", "high", "low", "close", "volume")
MAX_DECIMALS = 8
MAX_SPAN_MINUTES = 3_000_000  # ~5.7 years on one minute grid
REPLAY_SPREAD_BPS = 5.0
#: Minutes `ReplaySource.advance` reads and synthesizes at once (about 1 MB a block per
#: 100 symbols at 4 ticks a bar).
BLOCK_MINUTES = 60
_MIN_NOTIONAL = {"BTC": "0.0001", "ETH": "0.001", "BNB": "0.01", "KRW": "5000"}
_DEFAULT_MIN_NOTIONAL = "5"
#: Values `decimals_needed` tries before the whole array.
_DECIMALS_PROBE = 64


def estimated_spread_bps(spread: np.ndarray, mean_range: np.ndarray) -> np.ndarray:
    """The base spread (bps) the tick synthesis takes so that its quotes' mean spread is
    `spread` (relative, per symbol): it widens a bar's spread by 1 + SPREAD_RANGE_WIDENING
    x the bar's relative range and by a lognormal noise of mean exp(scale² / 2), so the
    estimate is divided by both means (the synthesis never quotes less than one tick). A
    symbol without an estimate (0: too few bars, no spread shown) keeps REPLAY_SPREAD_BPS."""
    noise_mean = libm.exp(NOISE_SCALES[0] ** 2 / 2.0)
    widening = (1.0 + SPREAD_RANGE_WIDENING * mean_range) * noise_mean
    return np.where(spread > 0, spread * 1e4 / widening, REPLAY_SPREAD_BPS)


class ReplayError(errors.DataError, ValueError):
    """The replay directory cannot be used; the message says which file and what to fix."""


def decimals_needed(values: np.ndarray, cap: int = MAX_DECIMALS) -> int:
    """Fewest decimals that represent every value (up to `cap`), read from the float data."""
    finite = values[np.isfinite(values)]
    # A few values first: too few decimals almost always fail on one of them, which spares
    # the whole array's test (each value is judged alone, so the answer is the same).
    head = finite[:_DECIMALS_PROBE]
    for decimals in range(cap + 1):
        if _on_decimals(head, decimals) and _on_decimals(finite, decimals):
            return decimals
    return cap


def _on_decimals(values: np.ndarray, decimals: int) -> bool:
    """Whether every value has at most `decimals` decimals (`decimals_needed`' test)."""
    scaled = values * 10.0**decimals
    # Tolerance: far below the 8th decimal, plus float representation error.
    allowed = 10.0**decimals * 1e-11 + np.abs(scaled) * 1e-12
    return bool(np.all(np.abs(scaled - np.round(scaled)) <= allowed))


def infer_instrument(base: str, quote: str, frame: pd.DataFrame) -> Instrument:
    """Tick from the price decimals, lot from the volume decimals, small min notional."""
    prices = frame[["open", "high", "low", "close"]].to_numpy().ravel()
    tick = Decimal(1).scaleb(-decimals_needed(prices))
    lot = Decimal(1).scaleb(-decimals_needed(frame["volume"].to_numpy()))
    return Instrument(
        symbol=f"{base}{quote}",
        base=base,
        quote=quote,
        tick=tick,
        lot=lot,
        min_notional=Decimal(_MIN_NOTIONAL.get(quote, _DEFAULT_MIN_NOTIONAL)),
        min_qty=lot,
        max_qty=Decimal(90000000000),
        min_price=tick,
        max_price=Decimal(10) ** max(3, int(np.ceil(libm.log10(max(prices.max(), 1e-8) * 1000)))),
    )


def read_ohlcv(path: Path) -> pd.DataFrame:
    """One OHLCV file, sorted by time, duplicates dropped, minute-aligned rows only."""
    try:
        frame = _read_columns(path)
    except (ValueError, OSError) as exc:
        raise ReplayError(f"{path}: cannot read {','.join(COLUMNS)} ({exc})") from None
    if _clean(frame):  # the usual file: nothing to drop or sort (a tenth of the read)
        return frame
    frame = frame.dropna()
    frame = frame[frame["timestamp_ms"] % MINUTE_MS == 0]
    return frame.drop_duplicates("timestamp_ms").sort_values("timestamp_ms", ignore_index=True)


def _read_columns(path: Path) -> pd.DataFrame:
    """`pd.read_csv(path, usecols=COLUMNS)`, a gzip file decompressed in one call rather
    than streamed to the parser in small reads (the same bytes, so the same frame); any
    failure reads the file the plain way, so its error is the one that call raises."""
    try:
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
        return pd.read_csv(io.BytesIO(raw), usecols=list(COLUMNS))
    except Exception:  # noqa: BLE001 - the plain read below says what is wrong
        return pd.read_csv(path, usecols=list(COLUMNS))


def _clean(frame: pd.DataFrame) -> bool:
    """Whether `read_ohlcv`'s cleaning would leave `frame` as it is: integer times, all on
    the minute and strictly increasing, and no value missing."""
    times = frame["timestamp_ms"].to_numpy()
    return (times.dtype == np.int64 and bool(np.all(times % MINUTE_MS == 0))
            and bool(np.all(times[1:] > times[:-1]))
            and not bool(frame.isna().to_numpy().any()))


class ReplaySource:
    """Recorded bars on one minute grid; `advance()` plays them minute by minute."""

    def __init__(
        self,
        frames: dict[tuple[str, str], pd.DataFrame],
        *,
        ticks_per_bar: int = 4,
        seed: int = 7,
        warmup_minutes: int = 1440,
        spread: str = "fixed",
    ) -> None:
        """`spread`: "fixed" quotes every symbol's synthesized ticks REPLAY_SPREAD_BPS
        apart; "estimated" at the spread the warm-up bars imply (`estimated_spread_bps`)."""
        if spread not in SPREAD_SOURCES:
            raise ReplayError(f"spread {spread!r}: use one of {', '.join(SPREAD_SOURCES)}")
        if not frames:
            raise ReplayError("no OHLCV series to replay")
        keys = sorted(frames)
        self.instruments = [infer_instrument(b, q, frames[(b, q)]) for b, q in keys]
        self.symbols = [i.symbol for i in self.instruments]
        if len(set(self.symbols)) != len(self.symbols):
            raise ReplayError(f"duplicate symbols in replay data: {self.symbols}")
        self._index = {s: i for i, s in enumerate(self.symbols)}
        self.tick = np.array([float(i.tick) for i in self.instruments])
        self.lot = np.array([float(i.lot) for i in self.instruments])
        self._spread_bps = np.full(len(keys), REPLAY_SPREAD_BPS)
        self.seed, self.ticks_per_bar = seed, ticks_per_bar
        first = min(int(f["timestamp_ms"].iloc[0]) for f in frames.values() if len(f))
        last = max(int(f["timestamp_ms"].iloc[-1]) for f in frames.values() if len(f))
        rows = (last - first) // MINUTE_MS + 1
        if rows > MAX_SPAN_MINUTES:
            raise ReplayError(
                f"replay data spans {rows} minutes (> {MAX_SPAN_MINUTES}); put series from "
                "different periods in different directories"
            )
        self.store = BarStore(first, len(keys), capacity=rows, tick=self.tick, lot=self.lot)
        self.store.extend(*self._grid(frames, keys, first, rows))
        self.end_ms = first + rows * MINUTE_MS
        # Short recordings still replay: at most half of the data is warm-up history.
        warmup_rows = min(warmup_minutes, rows // 2)
        self.now_ms = first + warmup_rows * MINUTE_MS
        #: Each symbol's relative spread read from the warm-up bars (None: "fixed").
        self.spread: np.ndarray | None = None
        if spread == "estimated":
            self.spread = self._warmup_spreads(warmup_rows)
            self._spread_bps = estimated_spread_bps(self.spread, self._warmup_range(warmup_rows))
        # The minutes `advance` plays, read and synthesized ahead a block at a time.
        self._block_start = self._block_stop = 0  # rows [start, stop): the block's
        self._bars_block = self.store.minute_block(0, 0)
        self._ticks_block = synthesize_tick_block(self._bars_block, self.tick, self.lot,
                                                  self._spread_bps, ticks_per_bar, seed)

    def _warmup_columns(self, rows: int) -> dict[str, np.ndarray]:
        traded = np.asarray(self.store.column("traded", slice(0, rows)), bool)
        return {name: np.where(traded, self.store.column(name, slice(0, rows)), np.nan)
                for name in ("high", "low", "close")}

    def _warmup_spreads(self, rows: int) -> np.ndarray:
        """The relative spread of each symbol implied by the warm-up bars (model/costs.py)."""
        bars = self._warmup_columns(rows)
        return costs.estimate_spreads(bars["high"], bars["low"], bars["close"])

    def _warmup_range(self, rows: int) -> np.ndarray:
        """Each symbol's mean relative bar range (high - low) / close over the warm-up."""
        bars = self._warmup_columns(rows)
        with np.errstate(invalid="ignore", divide="ignore"):
            ranges = (bars["high"] - bars["low"]) / bars["close"]
        counted = np.isfinite(ranges).sum(axis=0)
        return np.where(counted > 0, np.nansum(ranges, axis=0) / np.maximum(counted, 1), 0.0)

    @classmethod
    def from_dir(
        cls,
        directory: str | Path,
        *,
        ticks_per_bar: int = 4,
        seed: int = 7,
        warmup_minutes: int = 1440,
        spread: str = "fixed",
    ) -> ReplaySource:
        """Load every `<BASE>_<QUOTE>-1m.csv[.gz]` in `directory`."""
        path = Path(directory)
        if not path.is_dir():
            raise ReplayError(f"replay directory {path} not found; set sim.replay_dir")
        frames: dict[tuple[str, str], pd.DataFrame] = {}
        for file in sorted(path.iterdir()):
            match = FILE_PATTERN.match(file.name)
            if match:
                frame = read_ohlcv(file)
                if len(frame):
                    frames[(match.group(1).upper(), match.group(2).upper())] = frame
        if not frames:
            raise ReplayError(
                f"no <BASE>_<QUOTE>-1m.csv[.gz] files with data in {path}, "
                "e.g. ETH_BTC-1m.csv.gz with columns " + ",".join(COLUMNS)
            )
        return cls(frames, ticks_per_bar=ticks_per_bar, seed=seed, warmup_minutes=warmup_minutes,
                   spread=spread)

    def _grid(
        self,
        frames: dict[tuple[str, str], pd.DataFrame],
        keys: list[tuple[str, str]],
        first: int,
        rows: int,
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """The bars of `frames` on the minute grid: (BAR_FIELDS columns, trade counts,
        traded), each (rows, symbols) (exchange/sim/replay_grid.py)."""
        at_of = [((frames[key]["timestamp_ms"].to_numpy(np.int64) - first) // MINUTE_MS
                  ).astype(np.int64) for key in keys]
        return bars_on_grid([frames[key] for key in keys], at_of, self.tick, self.lot, rows)

    # -- MarketSource ----------------------------------------------------------------------
    def bars_before(
        self, symbol: str, end_ms: int, limit: int, start_ms: int | None = None
    ) -> BarHistory:
        """Recorded bars of `symbol` before `min(end_ms, now_ms)`; see BarStore.history."""
        index = self._index[symbol]
        return self.store.history(symbol, index, min(end_ms, self.now_ms), limit, start_ms)

    def advance(self) -> MinuteData | None:
        """The next recorded minute (possibly with no bars at all), or None at the end."""
        if self.now_ms >= self.end_ms:
            return None
        row = self.store.row_of(self.now_ms)
        if not self._block_start <= row < self._block_stop:
            self._read_block(row)
        b = row - self._block_start
        bars = self._bars_block.minute(b)
        self.now_ms += MINUTE_MS
        return MinuteData(bars, self._ticks_block.minute(b, bars.index))

    def _read_block(self, row: int) -> None:
        """Read and synthesize the next `BLOCK_MINUTES` minutes from `row` at once: bit for
        bit `BarStore.minute` and `synthesize_ticks` of each, at a fraction of their cost
        (tests/unit/test_replay_blocks.py)."""
        stop = max(row + 1, min(row + BLOCK_MINUTES, self.store.row_of(self.end_ms)))
        self._bars_block = self.store.minute_block(row, stop)
        self._ticks_block = synthesize_tick_block(
            self._bars_block, self.tick, self.lot, self._spread_bps, self.ticks_per_bar,
            self.seed,
        )
        self._block_start = row
        self._block_stop = row + len(self._bars_block)

    def spread_bps(self) -> np.ndarray:
        return self._spread_bps


def load_grid(data_dir: str | Path) -> MinuteGrid:
    """The `<BASE>_<QUOTE>-1m.csv[.gz]` files of a folder on one minute grid (no trade = NaN),
    read the way the replay exchange reads them."""
    source = ReplaySource.from_dir(data_dir)
    store = source.store
    rows = slice(0, store.rows)
    traded = store.column("traded", rows).astype(bool)
    columns = {name: np.where(traded, store.column(name, rows).astype(np.float64), np.nan)
               for name in ("open", "high", "low", "close", "quote_volume")}
    return MinuteGrid(symbols=tuple(source.symbols), start_ms=int(store.first_open_ms),
                      **columns)
