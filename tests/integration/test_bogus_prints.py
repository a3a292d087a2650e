"""Bad prints on the replay clock: a bogus print in the data never marks equity,
never trips a breaker, and the decisions go on."""

from __future__ import annotations

import gzip
import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import load_config
from bot.research.backtest import run_backtest
from state.ledger import Ledger
from tests.replay_data import write_random_walk_market

MINUTES = 420
BOGUS_ROW = MINUTES - 40  # late in the run: a halt would still be in force at the end


def spoil_one_bar(market: Path, factor: float) -> str:
    """Multiply one bar of the first coin by `factor` (a unit slip); returns the symbol."""
    path = min(market.glob("*-1m.csv.gz"))
    with gzip.open(path, "rt") as handle:
        lines = handle.read().splitlines()
    ts, *prices, volume = lines[1 + BOGUS_ROW].split(",")
    lines[1 + BOGUS_ROW] = ",".join([ts, *(f"{float(p) * factor:.6f}" for p in prices), volume])
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return path.name.split("-")[0].replace("_", "")


@pytest.mark.slow
@pytest.mark.parametrize("factor", [1000.0, 0.001])
def test_a_bogus_bar_never_marks_equity_nor_trips_a_breaker(tmp_path: Path, factor: float) -> None:
    market = write_random_walk_market(tmp_path / "market", coins=2, minutes=MINUTES, gaps=0)
    spoil_one_bar(market, factor)
    (tmp_path / "config.toml").write_text("")
    config = load_config(tmp_path / "config.toml", environ={})
    db = tmp_path / "ledger.sqlite"

    result = run_backtest(config, market, db, policy="buyhold", quote_asset="USDT",
                          balance=Decimal(10_000), warmup_minutes=120)

    assert result.minutes > BOGUS_ROW - 120, "the replay must reach the bogus minute"
    with Ledger.open(db) as ledger:
        equity = [float(p.equity) for p in ledger.equity_curve()]
        state = ledger.get_kv("trading_state")
    assert len(equity) > 100 and min(equity) > 0
    worst_step = max(abs(b / a - 1) for a, b in itertools.pairwise(equity))
    assert worst_step < 0.05, f"equity jumped {worst_step:.1%} in one step"
    assert state is None or state["mode"] == "ACTIVE"
