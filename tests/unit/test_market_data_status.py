"""Status and metrics show what the feed edge dropped, what the bad-print filter held and
which symbols were isolated: one command layer, the same figures everywhere."""

from __future__ import annotations

import time
from types import SimpleNamespace

from bot.config import StrategyConfig, load_config
from bot.ops import commands
from bot.ops.command_text import render
from bot.ops.metrics import DaemonCollector, snapshot_of
from exchange.feeds.common import FeedHealth
from model.market import MINUTE_MS, Bar
from tests.unit.test_engine_isolation import history
from trading.engine import Engine

T0 = 1_700_000_000_000 - 1_700_000_000_000 % MINUTE_MS


def runtime_with_counters() -> SimpleNamespace:
    """A daemon stand-in whose feed dropped 3 items and whose engine held one bogus bar
    and isolated one symbol."""
    engine = Engine(["BTCUSDT", "ETHUSDT"], StrategyConfig())
    engine.on_history(history("BTCUSDT"))
    engine.on_bar(Bar("BTCUSDT", T0, 1e5, 1e5, 1e5, 1e5, 1.0, 1e5))  # held: 1000x
    engine.isolated["ETHUSDT"] = "fill: ValueError: NaN"
    health = FeedHealth(connected=True, stale=False, msgs_per_s=1.0, messages=10, malformed=0,
                        reconnects=0, last_message_age_s=0.1, bars=5, gaps_filled=0,
                        invalid=3, invalid_by_reason=(("price_out_of_range", 1),
                                                      ("time_in_future", 2)))
    return SimpleNamespace(config=load_config(None, environ={}), engine=engine, trader=None,
                           feed=SimpleNamespace(health=lambda: health), ledger=None,
                           started_wall=time.time())


def test_status_reports_invalid_data_bad_prints_and_isolated_symbols() -> None:
    result = commands.status(runtime_with_counters())  # type: ignore[arg-type]
    market = result["market_data"]
    assert market["invalid"] == 3
    assert market["invalid_by_reason"] == {"price_out_of_range": 1, "time_in_future": 2}
    assert market["bad_prints"]["quarantined_bars"] == 1 and market["bad_prints"]["held_now"] == 1
    assert market["isolated_symbols"] == {"ETHUSDT": "fill: ValueError: NaN"}
    text = render("status", result)
    assert ("market data: 3 invalid dropped (price_out_of_range 1, time_in_future 2); "
            "bad prints: 1 bars held (0 rejected, 1 held now), 0 ticks; isolated: ETHUSDT") in text


def test_metrics_export_the_same_counters_by_reason_and_outcome() -> None:
    rt = runtime_with_counters()
    rt.trader = None
    families = {f.name: f for f in DaemonCollector(lambda: snapshot_of(rt)).collect()}
    invalid = {s.labels["reason"]: s.value for s in families["entasis_feed_invalid"].samples
               if s.name.endswith("_total")}
    prints = {s.labels["outcome"]: s.value for s in families["entasis_bad_prints"].samples
              if s.name.endswith("_total")}
    assert invalid == {"price_out_of_range": 1, "time_in_future": 2}
    assert prints["bar_quarantined"] == 1 and prints["bar_rejected"] == 0
    assert families["entasis_isolated_symbols"].samples[0].value == 1
