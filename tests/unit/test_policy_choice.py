"""policy = "auto" per market (bot/app/policy_choice.py): the best walk-forward verdict of
the daemon's market; in live mode never one that lost to flat (nor none at all): the
daemon then opens no position but still exits what it holds; in paper mode the pick
trades, marked unproven unless it beat flat."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bot.app.assembly import make_policy, make_trader
from bot.app.policy_choice import StayFlat, choose_policy, daemon_market
from bot.config import Config, load_config
from bot.data_dir import DataDir
from bot.research.verdicts import Verdict, record_verdicts
from model.instruments import Instrument
from state.ledger import Ledger
from strategies.baselines import BaselinePolicy
from strategies.policy import Action, DecisionView, PolicyAction
from strategies.sma_cross import SmaCrossPolicy


def config_in(data_dir: Path, mode: str = "paper", interval: str = "1m") -> Config:
    config = load_config(None, environ={})
    return config.model_copy(update={
        "app": config.app.model_copy(update={"data_dir": data_dir, "mode": mode}),
        "trading": config.trading.model_copy(update={"decision_interval": interval})})


def record(config: Config, *verdicts: tuple[str, float, float], market: str | None = None,
           params: dict | None = None, deflated: float = 0.01) -> None:
    """(policy, Sharpe, total return) verdicts for the config's market."""
    record_verdicts(DataDir(config.data_dir).walkforward_trials, [
        Verdict(market=market or daemon_market(config), policy=name, batch_policy=name,
                params=params or {}, whole_universe=True, sharpe=sharpe,
                deflated_sharpe=deflated, total_return=total, max_drawdown=0.2,
                beat_flat=sharpe > 0 and total > 0, folds=9, n_trials=7,
                data="/data/binance_1h_2017-2022", timeframe="1h", start_ms=0, end_ms=1)
        for name, sharpe, total in verdicts])


def test_the_daemon_market_is_its_source_quote_and_decision_interval(tmp_path: Path) -> None:
    assert daemon_market(config_in(tmp_path, interval="1h")) == "sim/USDT/1h"


def test_paper_without_a_verdict_trades_the_baseline_as_before_marked_unproven(
        tmp_path: Path) -> None:
    choice = choose_policy(config_in(tmp_path))
    assert (choice.policy, choice.proven, choice.stay_flat) == ("baseline", False, False)
    assert choice.reason.startswith("unproven: no walk-forward verdict for market sim/USDT/1m")
    assert isinstance(make_policy("auto", config_in(tmp_path)), BaselinePolicy)


def test_live_without_a_verdict_stays_flat_and_says_how_to_get_one(tmp_path: Path) -> None:
    choice = choose_policy(config_in(tmp_path, "live"))
    assert choice.stay_flat and not choice.proven
    assert choice.reason.startswith("live: staying flat — no walk-forward verdict")
    assert "entasis walkforward" in choice.reason and "--record" in choice.reason
    assert "--timeframe 1m" in choice.reason  # the bars of the daemon's decision interval


def test_the_best_verdict_that_beat_flat_is_traded_and_proven_in_either_mode(
        tmp_path: Path) -> None:
    config = config_in(tmp_path, "live")
    record(config, ("baseline", -2.98, -0.587), ("sma", 0.71, 0.874), ("buyhold", 0.57, 0.90),
           deflated=0.97)
    record(config, ("sma", 3.0, 2.0), market="binance/USDT/1m")  # another market: not read
    choice = choose_policy(config)
    assert (choice.policy, choice.proven, choice.stay_flat) == ("sma", True, False)
    assert choice.verdict is not None and choice.verdict.sharpe == 0.71
    assert "Sharpe 0.71" in choice.reason and "+87.4%" in choice.reason
    assert isinstance(make_policy("auto", config), SmaCrossPolicy)


def test_live_stays_flat_when_the_best_verdict_beat_flat_by_luck_alone(tmp_path: Path) -> None:
    # given a positive Sharpe whose deflated Sharpe (all configurations counted) is low
    config = config_in(tmp_path, "live")
    record(config, ("baseline", -2.98, -0.587), ("sma", 0.60, 0.658), deflated=0.40)
    choice = choose_policy(config)
    assert (choice.policy, choice.proven, choice.stay_flat) == ("sma", False, True)
    assert choice.reason.startswith(
        "live: staying flat — best walk-forward policy sma beat flat on its point estimates "
        "only (deflated Sharpe 0.400 < 0.95)")
    # paper trades it, marked unproven
    paper = choose_policy(config_in(tmp_path))
    assert (paper.policy, paper.proven, paper.stay_flat) == ("sma", False, False)
    assert paper.reason.startswith("unproven: best walk-forward policy sma beat flat on its")


def test_live_stays_flat_when_the_best_verdict_lost_to_flat(tmp_path: Path) -> None:
    config = config_in(tmp_path, "live")
    record(config, ("baseline", -2.98, -0.587), ("sma", -0.5, -0.1))
    choice = choose_policy(config)
    assert (choice.policy, choice.stay_flat) == ("sma", True)
    assert choice.reason == ("live: staying flat — best walk-forward policy sma lost to flat: "
                             "Sharpe -0.50, return -10.0%, max DD 20.0%, deflated Sharpe 0.010,"
                             " 9 folds on binance_1h_2017-2022 (1h)")


def test_paper_trades_the_best_verdict_that_lost_to_flat_marked_unproven(tmp_path: Path) -> None:
    config = config_in(tmp_path)
    record(config, ("baseline", -2.98, -0.587), ("sma", -0.5, -0.1))
    choice = choose_policy(config)
    assert (choice.policy, choice.proven, choice.stay_flat) == ("sma", False, False)
    assert choice.reason.startswith("unproven: best walk-forward policy sma lost to flat: "
                                    "Sharpe -0.50")


def test_only_verdicts_the_daemon_trades_under_that_name_count(tmp_path: Path) -> None:
    config = config_in(tmp_path, "live")
    record(config, ("forecast", 1.03, 0.87), ("auto", 1.2, 0.9))  # no such daemon policy
    record(config, ("sma", 2.0, 1.0), params={"fast": 10})  # not the daemon's sma
    assert choose_policy(config).verdict is None


def test_an_arena_winner_still_goes_first(tmp_path: Path) -> None:
    config = config_in(tmp_path, "live")
    record(config, ("sma", 0.71, 0.874))
    choice = choose_policy(config, arena_winner=True)
    assert (choice.policy, choice.proven, choice.stay_flat) == ("rl", True, False)


@dataclass
class Wants:
    """A policy that wants to buy one coin and sell another, and cancel a buy."""

    name: str = "wants"
    version: str | None = None

    def between_steps(self, feature_symbols: object) -> None:
        return

    def attach_sources(self, forecast: object, anomaly: object) -> None:
        return

    def decide(self, view: DecisionView) -> list[PolicyAction]:
        return [PolicyAction("AAAUSDT", Action.BUY, limit_price=10.0, stop_price=9.0),
                PolicyAction("BBBUSDT", Action.SELL, limit_price=20.0, exit=True),
                PolicyAction("CCCUSDT", Action.CANCEL_BUY, client_order_id="c1")]


def test_staying_flat_holds_every_entry_back_and_lets_exits_and_cancels_through() -> None:
    flat = StayFlat(Wants(), "live: staying flat — because")  # type: ignore[arg-type]
    actions = flat.decide(None)  # type: ignore[arg-type]
    assert [(a.symbol, a.action) for a in actions] == [
        ("AAAUSDT", Action.HOLD), ("BBBUSDT", Action.SELL), ("CCCUSDT", Action.CANCEL_BUY)]
    assert actions[0].reason == "live: staying flat — because" and flat.entries_held == 1


def test_a_live_trader_on_auto_without_a_verdict_is_built_staying_flat(tmp_path: Path) -> None:
    config = config_in(tmp_path, "live")
    instrument = Instrument("AAAUSDT", "AAA", "USDT", Decimal("0.01"), Decimal("0.001"),
                            Decimal(5))
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        trader = make_trader(config, [instrument], ledger, policy="auto", quote_asset="USDT",
                             balance=Decimal(10_000))
        assert isinstance(trader.policy, StayFlat)
        assert isinstance(trader.policy.inner, BaselinePolicy)
