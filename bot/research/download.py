"""`entasis download`: OHLCV candles from an exchange through ccxt into the project's CSV files.

One file per symbol, `<BASE>_<QUOTE>-<tf>.csv` with the header
`timestamp_ms,open,high,low,close,volume` (bar open time, UTC), the format of
../shared/data/ohlcv, which `entasis backtest --data` and the simulator's replay read.

Resumable: a file that exists is continued from its last row (a torn last line, left by a
crash mid-write, is cut first), so rows are never duplicated and the file never has a hole
between the old data and the new. Rows are appended and flushed page by page, so an
interrupted download keeps what it fetched. Only closed bars are written (the forming bar
would change). Bars the exchange does not have (no trades, on Upbit) stay absent, as in the
shared data.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from model import errors

HEADER = "timestamp_ms,open,high,low,close,volume"
PAGE_LIMIT = 1000  # ccxt fetch_ohlcv page size (Binance's maximum; Upbit returns 200)
DAY_MS = 86_400_000

Progress = Callable[[str, int, int], None]  # (symbol, bars done, bars expected)


class DownloadError(errors.OperatorError):
    """The download cannot go on as asked; the message says what to change."""


@dataclass(frozen=True, slots=True)
class SymbolResult:
    """What one symbol's download did."""

    symbol: str
    file: str
    rows_before: int
    rows_added: int
    first_ms: int | None
    last_ms: int | None


def file_name(symbol: str, timeframe: str) -> str:
    """"ETH/BTC", "1m" -> "ETH_BTC-1m.csv" (the shared data's naming)."""
    return f"{symbol.replace('/', '_').replace(':', '_')}-{timeframe}.csv"


def format_number(value: float) -> str:
    """Shortest text that reads back as the same float; integers without ".0"."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def resume_point(path: Path) -> tuple[int, int | None]:
    """(data rows in the file, timestamp of its last row); cuts a torn last line.

    Raises DownloadError when the file is not in the expected format (so we never append
    to a file we do not understand)."""
    if not path.exists():
        return 0, None
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with path.open("r+b") as handle:  # drop the partial row a crash left behind
            handle.truncate(cut)
        data = data[:cut]
    lines = data.decode("utf-8").splitlines()
    if not lines:
        return 0, None
    if lines[0].strip() != HEADER:
        raise DownloadError(f"{path}: first line is not '{HEADER}'; move the file away")
    if len(lines) == 1:
        return 0, None
    try:
        return len(lines) - 1, int(lines[-1].split(",", 1)[0])
    except ValueError:
        raise DownloadError(f"{path}: last row does not start with a timestamp") from None


def make_exchange(exchange_id: str, rest_url: str | None) -> Any:
    """A public (key-less) ccxt async client, pointed at `rest_url` when given (a local
    server such as `entasis sim-server`)."""
    import ccxt.async_support as ccxt_async

    cls = getattr(ccxt_async, exchange_id, None)
    if cls is None:
        raise DownloadError(f"ccxt has no exchange '{exchange_id}'; try binance or upbit")
    options: dict[str, Any] = {}
    if exchange_id == "binance":
        options = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                   "fetchMargins": False}
    exchange = cls({"enableRateLimit": True, "options": options})
    if rest_url:
        from exchange.brokers.ccxt_client import point_at

        try:
            point_at(exchange, rest_url.rstrip("/"))
        except ValueError as exc:
            raise DownloadError(f"--rest-url: {exc}") from None
    return exchange


async def download_symbol(
    exchange: Any, symbol: str, timeframe: str, since_ms: int, now_ms: int, out_dir: Path,
    progress: Progress | None = None,
) -> SymbolResult:
    """Fetch `symbol`'s closed bars from `since_ms` (or after the file's last row) to now."""
    tf_ms = exchange.parse_timeframe(timeframe) * 1000
    path = out_dir / file_name(symbol, timeframe)
    rows_before, last_ms = resume_point(path)
    cursor = since_ms if last_ms is None else last_ms + tf_ms
    end_ms = (now_ms // tf_ms) * tf_ms  # bars opening before this have closed
    start_cursor = cursor
    expected = max(0, (end_ms - cursor) // tf_ms)
    added, first_added = 0, None
    with path.open("a", encoding="utf-8", newline="") as handle:
        if rows_before == 0 and path.stat().st_size == 0:
            handle.write(HEADER + "\n")
        while cursor < end_ms:
            page = await exchange.fetch_ohlcv(symbol, timeframe, since=cursor, limit=PAGE_LIMIT)
            rows = [r for r in page if cursor <= int(r[0]) < end_ms and None not in r[:6]]
            if not rows:
                break
            rows.sort(key=lambda r: int(r[0]))
            handle.write("".join(
                f"{int(r[0])},{','.join(format_number(float(v)) for v in r[1:6])}\n"
                for r in rows
            ))
            handle.flush()
            os.fsync(handle.fileno())
            added += len(rows)
            first_added = first_added if first_added is not None else int(rows[0][0])
            cursor = int(rows[-1][0]) + tf_ms
            if progress is not None:
                progress(symbol, min(expected, (cursor - start_cursor) // tf_ms), expected)
    if progress is not None:
        progress(symbol, expected, expected)
    final_rows, final_last = resume_point(path)
    first_ms = first_added if rows_before == 0 else _first_ms(path)
    return SymbolResult(symbol, str(path), rows_before, final_rows - rows_before,
                        first_ms, final_last)


def _first_ms(path: Path) -> int | None:
    with path.open(encoding="utf-8") as handle:
        handle.readline()
        first = handle.readline()
    return int(first.split(",", 1)[0]) if first.strip() else None


async def download(
    exchange_id: str, symbols: list[str], timeframe: str, days: float, out_dir: Path, *,
    rest_url: str | None = None, progress: Progress | None = None,
    now_ms: Callable[[], int] | None = None,
) -> dict[str, Any]:
    """Download every symbol in turn; the summary as plain data (the `--json` object)."""
    if days <= 0:
        raise DownloadError(f"--days {days}: must be positive")
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    exchange = make_exchange(exchange_id, rest_url)
    try:
        if timeframe not in exchange.timeframes:
            raise DownloadError(f"--timeframe {timeframe}: {exchange_id} offers "
                                f"{', '.join(exchange.timeframes)}")
        await exchange.load_markets()
        unknown = [s for s in symbols if s not in exchange.markets]
        if unknown:
            raise DownloadError(f"unknown on {exchange_id}: {', '.join(unknown)} "
                                "(write symbols as BASE/QUOTE, e.g. BTC/USDT)")
        clock_ms = now_ms() if now_ms is not None else await _exchange_now_ms(exchange)
        since_ms = clock_ms - int(days * DAY_MS)
        results = [
            await download_symbol(exchange, s, timeframe, since_ms, clock_ms, out_dir, progress)
            for s in symbols
        ]
    finally:
        await exchange.close()
    return {
        "exchange": exchange_id,
        "timeframe": timeframe,
        "out": str(out_dir),
        "symbols": [asdict(r) for r in results],
        "rows_added": sum(r.rows_added for r in results),
        "elapsed_s": round(time.monotonic() - started, 3),
    }


async def _exchange_now_ms(exchange: Any) -> int:
    """The exchange's clock where it has one (a simulator's runs at its own speed)."""
    if exchange.has.get("fetchTime"):
        try:
            return int(await exchange.fetch_time())
        except Exception:  # noqa: BLE001 - any failure: fall back to our clock
            pass
    return int(time.time() * 1000)


def run_download(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """`download` from synchronous code (the CLI)."""
    return asyncio.run(download(*args, **kwargs))
