"""One paper daemon with its embedded simulator in this process: RSS at each start-up stage.

`python -m bench._daemon_probe --coins N [--decisions K] [--trace]` prints, as its last
stdout line, one JSON object: RSS and peak RSS (VmRSS, VmHWM from /proc/self/status) after
imports, after the simulator generated its history, once the feed's REST backfill is in the
features, and after the first K decision steps; plus the bytes of the structures that hold
the month of 1m bars. bench/daemon_memory.py runs it once per size, each in a fresh process,
so one size's memory never counts against another's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

from bot.app.daemon import Daemon
from bot.config import load_config
from exchange.sim.server import SimExchange
from strategies.decimal_ring import DecimalRing

MB = 1 << 20
BAR_FLOAT_FIELDS = 6  # open, high, low, close, volume, quote_volume as float64


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB, from /proc/self/status (Linux)."""
    fields: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024  # kB
    return round(fields["VmRSS"], 1), round(fields["VmHWM"], 1)


def array_bytes(owner: object) -> int:
    """Bytes of the numpy arrays among an object's attributes (not nested), and of its
    int32-when-lossless rings (strategies/decimal_ring.py: the bytes in use)."""
    values = vars(owner).values() if hasattr(owner, "__dict__") else ()
    return sum(v.nbytes for v in values if isinstance(v, np.ndarray | DecimalRing))


async def _wait(condition: Any, task: asyncio.Task[None], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if task.done():
            raise RuntimeError(f"the daemon stopped before {what}: {task.exception()!r}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout_s:.0f} s")
        await asyncio.sleep(0.05)


async def probe(coins: int, decisions: int, timeout_s: float, folder: Path,
                params: str | None = None) -> dict[str, Any]:
    """Start the daemon on a fresh data dir; RSS by stage and the history structures' MB.

    `params`: the `[sim] params` market (None: the config's default, the calibrated model;
    "": the old generator)."""
    stages: dict[str, tuple[float, float]] = {"imports": rss_mb()}
    config_file = folder / "config.toml"
    config_file.write_text(
        f'[app]\ndata_dir = "{folder / "var"}"\nlog_level = "WARNING"\n'
        f"[sim]\ncoins = {coins}\nseed = 7\n"
        + ("" if params is None else f"params = {json.dumps(params)}\n"))
    config = load_config(config_file, environ={})
    started = time.perf_counter()
    sim = SimExchange(config.sim)
    stages["sim_history_generated"] = rss_mb()
    daemon = Daemon(config, sim=sim)
    task = asyncio.create_task(daemon.run())
    try:
        await _wait(lambda: daemon.feed is not None and daemon.feed.health().connected, task,
                    timeout_s, "backfill and streaming")
        stages["backfill_in_features"] = rss_mb()
        engine = daemon.engine
        assert engine is not None
        await _wait(lambda: engine.steps >= decisions, task, timeout_s,
                    f"{decisions} decision steps")
        stages["first_decisions"] = rss_mb()
        store = sim.source.store
        structures = {
            "sim_bar_store_in_ram": round(store.ram_bytes / MB, 1),
            "feature_rings": round(array_bytes(engine.book._bars) / MB, 1),
            "close_rows_as_int32": engine.book._bars.ring_close.rows_on_grid,
            "history_floor_float64": round(coins * store.rows * BAR_FLOAT_FIELDS * 8 / MB, 1),
        }
        figures = {
            "coins": coins, "params": config.sim.params, "history_minutes": store.rows,
            "decisions": engine.steps,
            "store_minutes_in_cold_file": store.first_ram_row,
            "seconds_to_decide": round(time.perf_counter() - started, 1),
            "rss_mb": {stage: rss for stage, (rss, _) in stages.items()},
            "peak_rss_mb": {stage: peak for stage, (_, peak) in stages.items()},
            "structures_mb": structures, "store_fields_on_grid": store.on_grid(),
        }
        if tracemalloc.is_tracing():
            figures["top_allocations"] = _top_allocations(15)
        return figures
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _top_allocations(limit: int) -> list[str]:
    """Where the traced memory sits now, by line (only with --trace)."""
    snapshot = tracemalloc.take_snapshot()
    return [f"{stat.size / MB:8.1f} MB  {stat.traceback}"
            for stat in snapshot.statistics("lineno")[:limit]]


def main(argv: list[str]) -> int:
    """Parse the options, probe, print the figures as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench._daemon_probe")
    parser.add_argument("--coins", type=int, required=True)
    parser.add_argument("--decisions", type=int, default=3)
    parser.add_argument("--timeout-s", type=float, default=600.0)
    parser.add_argument("--trace", action="store_true", help="tracemalloc: top lines")
    parser.add_argument("--params", default=None,
                        help='[sim] params (default: the config\'s; "" = the old generator)')
    options = parser.parse_args(argv)
    if options.trace:
        tracemalloc.start()
    with tempfile.TemporaryDirectory(prefix="bench-daemon-memory-") as tmp:
        figures = asyncio.run(probe(options.coins, options.decisions, options.timeout_s,
                                    Path(tmp), options.params))
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
