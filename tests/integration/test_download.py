"""`entasis download` against the simulator's klines endpoint with the real ccxt client."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.config import SimConfig
from bot.research.download import HEADER, DownloadError, download
from exchange.sim.server import SimExchange
from model.market import MINUTE_MS

START_MS = 1_700_000_040_000
# params="": the old generator trades every minute, so a window of N minutes is N rows (the
# counts below); download writes whatever bars the exchange has, gaps included.
CONFIG = SimConfig(coins=6, history_days=1, seed=3, params="")


def rows_of(path: Path) -> list[list[str]]:
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER
    return [line.split(",") for line in lines[1:]]


def sim_rows(sim: SimExchange, symbol: str, start_ms: int) -> list[list[str]]:
    """The simulator's own closed 1m klines from `start_ms`, as CSV fields."""
    index = sim.symbol_index(symbol)
    assert index is not None
    rows: list[list[str]] = []
    cursor = start_ms
    while True:
        page = sim.kline_rows(index, cursor, None, 1000)
        if not page:
            return rows
        rows.extend([str(r[0]), *(repr(float(v)) for v in r[1:6])] for r in page)
        cursor = int(page[-1][0]) + MINUTE_MS


def as_floats(rows: list[list[str]]) -> list[tuple[float, ...]]:
    return [tuple(float(v) for v in row) for row in rows]


@pytest.mark.slow
def test_download_writes_every_closed_bar_and_resumes_without_duplicates_or_gaps(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with SimExchange(CONFIG, start_ms=START_MS, autorun=False) as sim:
            summary = await download("binance", ["BTC/USDT", "ETH/BTC"], "1m", 0.25, tmp_path,
                                     rest_url=sim.rest_url)
            assert summary["rows_added"] == 2 * 360
            path = tmp_path / "BTC_USDT-1m.csv"
            first = rows_of(path)
            since = START_MS - 360 * MINUTE_MS
            assert as_floats(first) == as_floats(sim_rows(sim, "BTCUSDT", since))
            # crash mid-write: a torn last row, and the 50 rows before it never written
            kept = path.read_text().splitlines()[: 1 + len(first) - 51]
            path.write_text("\n".join(kept) + "\n1699999" )
            await sim.step(7)  # the market moves on: 7 more closed minutes
            again = await download("binance", ["BTC/USDT", "ETH/BTC"], "1m", 0.25, tmp_path,
                                   rest_url=sim.rest_url)
            by_symbol = {s["symbol"]: s for s in again["symbols"]}
            assert by_symbol["BTC/USDT"]["rows_added"] == 51 + 7
            assert by_symbol["ETH/BTC"]["rows_added"] == 7
            final = rows_of(path)
            stamps = [int(r[0]) for r in final]
            assert stamps == list(range(since, START_MS + 7 * MINUTE_MS, MINUTE_MS))
            assert as_floats(final) == as_floats(sim_rows(sim, "BTCUSDT", since))

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_unknown_symbol_and_foreign_files_are_refused_with_what_to_do(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with SimExchange(CONFIG, start_ms=START_MS, autorun=False) as sim:
            with pytest.raises(DownloadError, match=r"NOPE/USDT.*BASE/QUOTE"):
                await download("binance", ["NOPE/USDT"], "1m", 1, tmp_path, rest_url=sim.rest_url)
            (tmp_path / "BTC_USDT-1m.csv").write_text("date,price\n2020-01-01,1\n")
            with pytest.raises(DownloadError, match="move the file away"):
                await download("binance", ["BTC/USDT"], "1m", 1, tmp_path, rest_url=sim.rest_url)

    asyncio.run(asyncio.wait_for(scenario(), 60))


@pytest.fixture
def sim_in_thread() -> Iterator[SimExchange]:
    """A simulator on its own event loop in a thread, for the synchronous CLI runner."""
    loop = asyncio.new_event_loop()
    sim = SimExchange(CONFIG, start_ms=START_MS, autorun=False)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(sim.start(), loop).result(30)
    try:
        yield sim
    finally:
        asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_cli_prints_one_json_summary_and_a_second_run_adds_nothing(
    tmp_path: Path, sim_in_thread: SimExchange
) -> None:
    from bot.cli import app

    args = ["download", "--exchange", "binance", "--symbols", "BTC/USDT,ETH/KRW",
            "--timeframe", "1m", "--days", "0.1", "--out", str(tmp_path),
            "--rest-url", sim_in_thread.rest_url, "--json"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert [s["rows_added"] for s in summary["symbols"]] == [144, 144]
    assert (tmp_path / "ETH_KRW-1m.csv").exists()
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout.strip().splitlines()[-1])["rows_added"] == 0
    bad = CliRunner().invoke(app, [*args[:-1], "--timeframe", "7m"])
    assert bad.exit_code == 2 and "--timeframe 7m" in bad.output
