"""The command layer over a real trader, engine and SQLite ledger (tests/ops_runtime.py):
every command's answer is checked against the scripted trades it must describe."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from bot.ops.commands import COMMANDS, CommandError, CommandLayer, NotReady, UnknownCommand
from risk.state import TradingMode, halt
from tests.ops_runtime import SELL_BBB, OpsRuntime, make_runtime
from trading.notices import NoticeKind

READ_ONLY = ("status", "balance", "positions", "trades", "profit", "winrate", "performance",
             "regime", "models", "health", "help")


@pytest.fixture(scope="module")
def traded(tmp_path_factory: pytest.TempPathFactory) -> OpsRuntime:
    runtime = make_runtime(tmp_path_factory.mktemp("ops"))
    yield runtime
    runtime.close()


@pytest.fixture
def fresh(tmp_path: Path) -> OpsRuntime:
    runtime = make_runtime(tmp_path, minutes=SELL_BBB + 2)
    yield runtime
    runtime.close()


def test_every_read_only_command_answers_plain_json(traded: OpsRuntime) -> None:
    layer = CommandLayer(traded)
    for name in READ_ONLY:
        assert not layer.is_destructive(name)
        result = layer.call(name)
        assert json.loads(json.dumps(result)) == result
    assert {n for n, spec in COMMANDS.items() if spec.destructive} == {
        "pause", "resume", "stop", "forceexit", "reload-config"}


def test_balance_and_positions_match_the_paper_account(traded: OpsRuntime) -> None:
    layer = CommandLayer(traded)
    balance = layer.call("balance")
    assert balance["equity"] == str(traded.trader.equity())
    assert balance["start_equity"] == "10000"
    assets = {a["asset"]: a for a in balance["assets"]}
    assert set(assets) == {"USDT", "CCC"}  # AAA and BBB were sold again
    usdt = assets["USDT"]
    assert Decimal(usdt["free"]) + Decimal(usdt["locked"]) == Decimal(usdt["total"])
    assert Decimal(usdt["locked"]) > 0  # the resting BBB buy holds quote
    positions = layer.call("positions")
    assert [p["symbol"] for p in positions["positions"]] == ["CCCUSDT"]
    assert [(o["symbol"], o["side"]) for o in positions["open_orders"]] == [("BBBUSDT", "BUY")]
    assert positions["force_exits_pending"] == []


def test_trades_profit_and_winrate_describe_the_two_round_trips(traded: OpsRuntime) -> None:
    layer = CommandLayer(traded)
    fills = layer.call("trades", {"limit": 3})["fills"]
    assert [(f["symbol"], f["side"]) for f in fills] == [
        ("BBBUSDT", "SELL"), ("AAAUSDT", "SELL"), ("CCCUSDT", "BUY")]  # newest first
    profit = layer.call("profit")
    assert (profit["round_trips"], profit["wins"], profit["losses"]) == (2, 1, 1)
    assert (profit["buys"], profit["sells"]) == (3, 2)
    fees = sum(Decimal(f["fee"]) for f in layer.call("trades", {"limit": 500})["fills"])
    assert Decimal(profit["fees"]) == fees
    assert profit["equity"] == layer.call("balance")["equity"]  # last snapshot = now
    # 2023-11-15 was a Wednesday: its week starts Monday 2023-11-13 00:00 UTC.
    assert [row["start_ms"] for row in profit["weekly"]] == [1_699_833_600_000]
    assert [row["start_ms"] for row in profit["daily"]] == [1_700_006_400_000]
    only_daily = layer.call("profit", {"period": "daily", "count": 1})
    assert "hourly" not in only_daily and len(only_daily["daily"]) == 1
    win = layer.call("winrate")
    assert win["win_rate"] == 0.5 and win["daily"][0]["round_trips"] == 2
    assert Decimal(win["avg_win"]) > 0 > Decimal(win["avg_loss"])
    profit_factor = float(Decimal(win["avg_win"]) / -Decimal(win["avg_loss"]))
    assert win["profit_factor"] == pytest.approx(profit_factor, rel=1e-5)


def test_performance_ranks_coins_by_realized_pnl(traded: OpsRuntime) -> None:
    coins = CommandLayer(traded).call("performance")["coins"]
    assert [c["symbol"] for c in coins] == ["AAAUSDT", "CCCUSDT", "BBBUSDT"]
    aaa, ccc, bbb = coins
    assert Decimal(aaa["realized_pnl"]) > 0 > Decimal(bbb["realized_pnl"])
    assert aaa["win_rate"] == 1.0 and bbb["win_rate"] == 0.0 and ccc["win_rate"] is None
    assert ccc["unrealized_pnl"] is not None and aaa["unrealized_pnl"] is None


def test_regime_labels_follow_each_coins_trend(traded: OpsRuntime) -> None:
    result = CommandLayer(traded).call("regime")
    labels = {row["symbol"]: row["1h"] for row in result["symbols"]}
    assert labels == {"AAAUSDT": "bull", "BBBUSDT": "bear", "CCCUSDT": "sideways"}
    assert result["windows"] == ["1h", "6h", "12h", "24h"]
    assert result["summary"]["1h"] == {"bull": 1, "bear": 1, "sideways": 1, "unknown": 0}


def test_models_and_health_without_registry_or_feed_say_why(traded: OpsRuntime) -> None:
    layer = CommandLayer(traded)
    models = layer.call("models")
    assert models["models"] == [] and "entasis selfplay" in models["note"]
    assert models["trading"]["policy"] == "scripted"
    checks = {c["name"]: c["ok"] for c in layer.call("health")["checks"]}
    assert checks == {"feed_connected": False, "feed_fresh": False, "decisions": True,
                      "trading_state": True}


def test_arguments_are_checked_with_messages_that_say_what_to_do(traded: OpsRuntime) -> None:
    layer = CommandLayer(traded)
    with pytest.raises(UnknownCommand, match=r"known: .*balance"):
        layer.call("balanse")
    with pytest.raises(CommandError, match=r"unknown argument.*allowed: limit"):
        layer.call("trades", {"count": 3})
    with pytest.raises(CommandError, match="limit must be an integer"):
        layer.call("trades", {"limit": "many"})
    with pytest.raises(CommandError, match="between 1 and 500"):
        layer.call("trades", {"limit": 0})
    with pytest.raises(CommandError, match="period must be one of"):
        layer.call("profit", {"period": "monthly"})
    with pytest.raises(CommandError, match="missing argument 'symbol'"):
        layer.call("forceexit")
    with pytest.raises(CommandError, match="not a traded symbol"):
        layer.call("forceexit", {"symbol": "DOGEUSDT"})
    assert layer.call("trades", {"limit": "2"})["fills"][0]["side"] == "SELL"  # query strings


def test_commands_before_the_trader_exists_say_the_daemon_is_starting(traded: OpsRuntime) -> None:
    starting = replace(traded, trader=None, ledger=None, engine=None)
    layer = CommandLayer(starting)
    with pytest.raises(NotReady, match="still starting") as raised:
        layer.call("balance")
    assert raised.value.status == 503
    assert layer.call("status")["trading"] is None


def test_pause_stops_entries_until_resume(fresh: OpsRuntime) -> None:
    layer = CommandLayer(fresh)
    answer = layer.call("pause")
    assert answer == {"trading_state": "REDUCING", "paused": True, "changed": True,
                      "refused": False, "detail": "paused by operator"}
    assert fresh.ledger.get_kv("trading_state")["paused"] is True  # survives a restart
    fresh.play(2)  # the script's far BBB buy comes at minute SELL_BBB + 2
    decisions = fresh.ledger.decisions(limit=5)
    assert any(d.action == "BUY" and d.verdict == "DENIED:TRADING_STATE" for d in decisions)
    assert layer.call("pause")["changed"] is False
    resumed = layer.call("resume")
    assert resumed["trading_state"] == "ACTIVE" and resumed["changed"]
    kinds = [(n.kind, n.data.get("to_mode")) for n in fresh.notices if n.kind is NoticeKind.TRADING_STATE]
    assert kinds == [(NoticeKind.TRADING_STATE, "REDUCING"), (NoticeKind.TRADING_STATE, "ACTIVE")]


def test_forceexit_cancels_orders_then_sells_at_market_even_when_halted(fresh: OpsRuntime) -> None:
    fresh.play(1)  # minute SELL_BBB + 2: the far BBB buy rests
    layer = CommandLayer(fresh)
    fresh.trader.state, _ = halt(fresh.trader.state, fresh.now_ms())
    assert fresh.trader.state.mode is TradingMode.HALTED
    nothing = layer.call("forceexit", {"symbol": "aaausdt"})
    assert nothing["exits_queued"] == [] and nothing["detail"] == "nothing held to sell"
    answer = layer.call("forceexit", {"symbol": "all"})
    assert answer["symbols"] == ["BBBUSDT", "CCCUSDT"]
    assert len(answer["canceled_orders"]) == 1 and answer["exits_queued"] == ["CCCUSDT"]
    assert layer.call("positions")["force_exits_pending"] == ["CCCUSDT"]
    fresh.play(3)  # cancel applied -> market sell sent -> filled on the next bar
    positions = layer.call("positions")
    assert positions["positions"] == [] and positions["open_orders"] == []
    forced = [d for d in fresh.ledger.decisions(limit=20) if d.action == "FORCE_EXIT"]
    assert [d.verdict for d in forced] == ["OPERATOR"]
    fills = [n.text for n in fresh.notices if n.kind is NoticeKind.FILL]
    assert fills[-1].startswith("filled: SELL 24.752 CCCUSDT")


def test_stop_asks_the_runtime_to_shut_down(fresh: OpsRuntime) -> None:
    answer = CommandLayer(fresh).call("stop")
    assert answer["stopping"] is True and fresh.stop_requests == ["operator stop command"]
    assert fresh.notices[-1].kind is NoticeKind.DAEMON


def test_reload_config_applies_risk_now_and_lists_what_needs_a_restart(fresh: OpsRuntime) -> None:
    layer = CommandLayer(fresh)
    text = fresh.config_path.read_text()
    fresh.config_path.write_text(text + "[risk]\nmax_open_positions = 3\n[sim]\ncoins = 5\n")
    answer = layer.call("reload-config")
    assert answer["applied"] == ["risk"] and answer["needs_restart"] == ["sim"]
    assert fresh.trader.limits.max_open_positions == 3
    assert fresh.config.risk.max_open_positions == 3 and fresh.config.sim.coins == 30
    fresh.config_path.write_text(text + "[risk]\nmax_open_positions = 0\n")
    with pytest.raises(CommandError, match=r"(?s)nothing changed.*max_open_positions"):
        layer.call("reload-config")
    assert fresh.trader.limits.max_open_positions == 3


def test_round_trips_come_from_the_ledger_not_the_traders_memory(fresh: OpsRuntime) -> None:
    fresh.trader.round_trips.clear()  # as after a restart: the trader does not reload them
    assert CommandLayer(fresh).call("profit")["round_trips"] == 2
    assert CommandLayer(fresh).call("winrate")["wins"] == 1
