"""Walk-forward verdicts per market: the evidence `policy = "auto"` trades on.

`entasis walkforward --record` keeps, for each policy of the run, its aggregate out-of-sample
verdict (Sharpe, deflated Sharpe, total return, max drawdown, whether it beat flat, folds,
data folder, timeframe, the test windows' span) under a *market id* the daemon computes
from its own config (`market_id`): exchange, quote asset, bar length. The daemon's `auto`
(bot/app/policy_choice.py) reads the newest verdict of each policy for its market.

Stored in a `verdicts` table of the walk-forward's own file (`DataDir.walkforward_trials`),
beside the trials whose count the deflated Sharpe used: one file holds the whole search and
its outcome, and can be copied from a research machine into the daemon's data directory.
Rows are never deleted: a new run adds rows, the newest per (market, policy) counts.
Plain sqlite3, no torch: the daemon reads it at start-up.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from model import errors

# The daemon's market-data sources (`[exchange] source`): a data folder named after one of
# them (binance_1h_2017-2022) names its exchange; any other needs `--exchange`.
DAEMON_SOURCES = ("binance", "upbit", "sim")

SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    market TEXT NOT NULL,           -- market_id(): exchange/QUOTE/bar length
    policy TEXT NOT NULL,           -- the label in the walk-forward's tables
    batch_policy TEXT NOT NULL,     -- the policy that ran ("auto": the selection)
    params TEXT NOT NULL,           -- canonical JSON of its parameters
    whole_universe INTEGER NOT NULL,  -- 0: it traded only some symbols (btc_buyhold)
    sharpe REAL NOT NULL,           -- annualized, after costs, over the concatenated tests
    deflated_sharpe REAL NOT NULL,  -- counting every trial on the data
    total_return REAL NOT NULL,
    max_drawdown REAL NOT NULL,
    beat_flat INTEGER NOT NULL,     -- total return > 0 and Sharpe > 0
    folds INTEGER NOT NULL,
    n_trials INTEGER NOT NULL,
    data TEXT NOT NULL,             -- the data folder (resolved)
    timeframe TEXT NOT NULL,
    start_ms INTEGER NOT NULL,      -- first test window's start
    end_ms INTEGER NOT NULL,        -- last test window's end (exclusive)
    recorded_ms INTEGER NOT NULL,
    sharpe_ci_low REAL,             -- the Sharpe's 95 % stationary-bootstrap interval
    sharpe_ci_high REAL,
    PRIMARY KEY (market, policy, recorded_ms)
)
"""


class VerdictStoreError(errors.DataError):
    """The verdicts file cannot be read or written; the message names it."""


def market_id(exchange: str, quote: str, timeframe: str) -> str:
    """`binance/USDT/1h`: where a verdict holds. The bar length is the daemon's decision
    interval: a policy proven deciding once an hour is not proven deciding every minute."""
    return f"{exchange.strip().lower()}/{quote.strip().upper()}/{timeframe.strip()}"


def beats_flat(total_return: float, sharpe: float) -> bool:
    """Made money with a positive Sharpe after costs: what flat cannot lose (auto's rule)."""
    return total_return > 0 and sharpe > 0


@dataclass(frozen=True, slots=True)
class Verdict:
    """One policy's walk-forward on one market, as recorded."""

    market: str
    policy: str
    batch_policy: str
    params: Mapping[str, Any]
    whole_universe: bool
    sharpe: float
    deflated_sharpe: float
    total_return: float
    max_drawdown: float
    beat_flat: bool
    folds: int
    n_trials: int
    data: str
    timeframe: str
    start_ms: int
    end_ms: int
    recorded_ms: int = 0
    sharpe_ci_low: float | None = None  # 95 % bootstrap interval of `sharpe`
    sharpe_ci_high: float | None = None

    @property
    def plain(self) -> bool:
        """Its policy with default parameters over the whole universe: what the daemon
        trades under that name."""
        return not self.params and self.whole_universe

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**asdict(self), "params": dict(self.params)}

    def figures_text(self) -> str:
        """`Sharpe -2.98, return -58.7 %, max DD 58.8 %, 9 folds on binance_1h_2017-2022`."""
        interval = (f" (95 % CI {self.sharpe_ci_low:.2f} to {self.sharpe_ci_high:.2f})"
                    if self.sharpe_ci_low is not None and self.sharpe_ci_high is not None
                    else "")
        return (f"Sharpe {self.sharpe:.2f}{interval}, return {self.total_return:+.1%}, max DD "
                f"{self.max_drawdown:.1%}, deflated Sharpe {self.deflated_sharpe:.3f}, "
                f"{self.folds} folds on {Path(self.data).name} ({self.timeframe})")


def result_verdicts(result: Any, market: str, data: Path, timeframe: str) -> list[Verdict]:
    """Every policy of a `WalkForwardResult` (benchmarks included) as a verdict on `market`."""
    report, folds = result.report, result.folds
    start_ms = folds[0].open_ms(folds[0].test_start_row) if folds else 0
    end_ms = folds[-1].open_ms(folds[-1].test_stop_row) if folds else 0
    verdicts = []
    for spec in result.policies:
        summary = report.policies.get(spec.label)
        if summary is None:
            continue
        overall = summary.overall
        verdicts.append(Verdict(
            market=market, policy=spec.label, batch_policy=spec.name, params=dict(spec.params),
            whole_universe=spec.symbols is None, sharpe=_finite(overall.sharpe),
            deflated_sharpe=_finite(summary.deflated_sharpe),
            total_return=_finite(overall.total_return), max_drawdown=_finite(overall.max_drawdown),
            beat_flat=beats_flat(overall.total_return, overall.sharpe), folds=len(folds),
            n_trials=report.n_trials, data=str(data.resolve()), timeframe=timeframe,
            start_ms=start_ms, end_ms=end_ms,
            sharpe_ci_low=_finite_or_none(summary.intervals["sharpe"].low),
            sharpe_ci_high=_finite_or_none(summary.intervals["sharpe"].high)))
    return verdicts


def _finite(value: float) -> float:
    """A figure the report could not compute (NaN) is stored as 0: no evidence either way."""
    return float(value) if math.isfinite(value) else 0.0


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def record_verdicts(path: Path, verdicts: Iterable[Verdict], now_ms: int | None = None) -> int:
    """Add `verdicts` to the file at `path` in one transaction; returns how many."""
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    rows = [(v.market, v.policy, v.batch_policy, json.dumps(dict(v.params), sort_keys=True),
             int(v.whole_universe), v.sharpe, v.deflated_sharpe, v.total_return,
             v.max_drawdown, int(v.beat_flat), v.folds, v.n_trials, v.data, v.timeframe,
             v.start_ms, v.end_ms, now, v.sharpe_ci_low, v.sharpe_ci_high) for v in verdicts]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute(SCHEMA)
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(f"INSERT OR REPLACE INTO verdicts VALUES ({', '.join('?' * 19)})",
                                 rows)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise VerdictStoreError(f"{path}: cannot record walk-forward verdicts ({exc}); move "
                                "the file away or fix its permissions") from None
    return len(rows)


def latest_verdicts(path: Path, market: str) -> list[Verdict]:
    """The newest verdict of each policy on `market`, by policy label; none when the file
    or its table does not exist. Opened read-only: the daemon never writes it."""
    if not path.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                            "'verdicts'").fetchone() is None:
                return []
            rows = conn.execute(
                "SELECT * FROM verdicts v WHERE market = ? AND recorded_ms = (SELECT "
                "MAX(recorded_ms) FROM verdicts w WHERE w.market = v.market AND w.policy = "
                "v.policy) ORDER BY policy", (market,)).fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise VerdictStoreError(f"{path}: cannot read walk-forward verdicts ({exc}); move "
                                "the file away (auto then finds no verdict)") from None
    return [_verdict(row) for row in rows]


def _verdict(row: Sequence[Any]) -> Verdict:
    (market, policy, batch_policy, params, whole, sharpe, deflated, total_return, drawdown,
     beat_flat, folds, n_trials, data, timeframe, start_ms, end_ms, recorded_ms, ci_low,
     ci_high) = row
    return Verdict(market, policy, batch_policy, json.loads(params), bool(whole), sharpe,
                   deflated, total_return, drawdown, bool(beat_flat), folds, n_trials, data,
                   timeframe, start_ms, end_ms, recorded_ms, ci_low, ci_high)


def data_exchange(data: Path, exchange: str | None) -> str:
    """The exchange a data folder's bars came from: `exchange` when given, else the folder
    name's first word when it is a daemon source; `VerdictStoreError` saying to pass
    `--exchange` otherwise."""
    if exchange:
        return exchange
    first = data.resolve().name.split("_", 1)[0].lower()
    if first in DAEMON_SOURCES:
        return first
    raise VerdictStoreError(
        f"--record: cannot tell the exchange of {data.name!r} from its name; pass --exchange "
        f"NAME (the daemon's [exchange] source: {', '.join(DAEMON_SOURCES)})")
