"""`policy = "auto"`: trade, per market, the policy with the best walk-forward verdict, and
never trade real money on one that lost to flat.

The daemon's market id is its exchange source, quote asset and decision interval
(`bot.research.verdicts.market_id`); `entasis walkforward --record` keeps verdicts under the
same id. Among the newest verdicts for the market, of policies the daemon trades under the
same name and defaults (baseline, sma, buyhold over the whole universe), the pick is the
best Sharpe among those that beat flat (return > 0 and Sharpe > 0 after costs), else the
best Sharpe of all: the walk-forward `auto`'s own rule. An arena-promoted RL model still
goes first, as before: its arena verdict is its record. When the portfolio league has
promoted a model (data_dir/portfolio_models.sqlite), the market's `rl_portfolio` verdict
competes too, whatever league parameters it was walked forward with (they shape training,
not what the daemon trades: the registry's promoted best); it is judged by the same rules.

- proven: the pick beat flat and its deflated Sharpe is at least `MIN_DEFLATED_SHARPE`.
- paper: trade the pick (the baseline when there is no verdict, as before); unless it is
  proven it is marked "unproven", with its walk-forward figures, in `status` and `health`.
- live: a pick that is not proven, or no verdict at all, is not traded: the daemon stays
  flat (`StayFlat`: no new entries; exits, stops and cancels go on, so what it holds is still
  managed) and says so in `status`, `health` and a Telegram notice on start.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.config import Config
from bot.data_dir import DataDir
from bot.research.verdicts import Verdict, latest_verdicts, market_id
from model.timeframes import duration_text
from strategies.baselines import POLICIES
from strategies.entry_hold import EntryHold
from strategies.policy import DecisionView, Policy

log = logging.getLogger(__name__)

FALLBACK = "baseline"  # what auto traded before verdicts existed
#: The portfolio league's policy name (bot.research.walkforward_league.RL_PORTFOLIO; not
#: imported: that module loads the fast backtester, the daemon's start needs none of it).
RL_PORTFOLIO = "rl_portfolio"
#: What "proven" takes besides beating flat on its point estimates: a deflated Sharpe ratio
#: (the probability that the true Sharpe is above zero, counting every configuration tried on
#: that data) of at least this. A positive Sharpe whose interval spans zero after a search of
#: many configurations is luck as often as skill; live money waits for evidence (ADR-095).
MIN_DEFLATED_SHARPE = 0.95


def record_hint(market: str) -> str:
    """How to give `market` a verdict: a recorded walk-forward on its bars."""
    timeframe = market.rpartition("/")[2]
    return (f"record one with `entasis walkforward --data FOLDER --timeframe {timeframe} "
            "--policies auto,baseline,sma --record` on this market's bars")


@dataclass(frozen=True, slots=True)
class PolicyChoice:
    """What `auto` trades and on what evidence: `policy` is the name `make_policy` builds;
    `stay_flat` holds every new entry back (live, unproven); `reason` says it in one line."""

    market: str
    mode: str
    policy: str
    proven: bool
    stay_flat: bool
    reason: str
    verdict: Verdict | None = None

    def as_dict(self) -> dict[str, Any]:
        """For `status` and `health`."""
        return {"market": self.market, "mode": self.mode, "policy": self.policy,
                "proven": self.proven, "stay_flat": self.stay_flat, "reason": self.reason,
                "verdict": self.verdict.as_dict() if self.verdict is not None else None}


def daemon_market(config: Config) -> str:
    """The market id of what this config trades: `binance/USDT/1m`."""
    return market_id(config.exchange.source, config.trading.quote_asset,
                     duration_text(config.trading.decision_timeframe.ms))


def best_verdict(verdicts: Sequence[Verdict], *, portfolio_model: bool = False
                 ) -> Verdict | None:
    """The best Sharpe among the daemon-tradable verdicts that beat flat, else among all;
    with `portfolio_model` (a promoted portfolio model exists) `rl_portfolio` is tradable."""
    tradable = [v for v in verdicts
                if (v.plain and v.batch_policy in POLICIES.names)
                or (portfolio_model and v.batch_policy == RL_PORTFOLIO and v.whole_universe)]
    pool = [v for v in tradable if v.beat_flat] or tradable
    return max(pool, key=lambda v: (v.sharpe, v.policy), default=None)


def choose_policy(config: Config, *, arena_winner: bool = False,
                  portfolio_model: bool = False) -> PolicyChoice:
    """What `auto` trades on this config's market, from the data dir's verdicts
    (`portfolio_model`: the portfolio league promoted a model, see the module docstring)."""
    market, mode = daemon_market(config), config.app.mode
    if arena_winner:
        return PolicyChoice(market, mode, "rl", True, False,
                            "rl: an arena-promoted best_player (its arena record)")
    verdict = best_verdict(latest_verdicts(DataDir(config.data_dir).walkforward_trials, market),
                           portfolio_model=portfolio_model)
    if verdict is None:
        what = f"no walk-forward verdict for market {market}"
        if mode == "live":
            return PolicyChoice(market, mode, FALLBACK, False, True,
                                f"live: staying flat — {what}; {record_hint(market)}")
        return PolicyChoice(market, mode, FALLBACK, False, False,
                            f"unproven: {what}; trading {FALLBACK}")
    figures = verdict.figures_text()
    name = verdict.batch_policy
    if verdict.beat_flat and verdict.deflated_sharpe >= MIN_DEFLATED_SHARPE:
        return PolicyChoice(market, mode, name, True, False,
                            f"{name}: best walk-forward policy, beat flat: {figures}", verdict)
    why = ("lost to flat" if not verdict.beat_flat else
           f"beat flat on its point estimates only (deflated Sharpe "
           f"{verdict.deflated_sharpe:.3f} < {MIN_DEFLATED_SHARPE})")
    if mode == "live":
        return PolicyChoice(market, mode, name, False, True,
                            f"live: staying flat — best walk-forward policy {name} {why}: "
                            f"{figures}", verdict)
    return PolicyChoice(market, mode, name, False, False,
                        f"unproven: best walk-forward policy {name} {why}: {figures}", verdict)


class StayFlat(EntryHold):
    """A policy wrapper: every BUY becomes a HOLD with the reason, so no position is opened;
    sells, stops and cancels pass through, so what is held is still managed and exited."""

    def __init__(self, policy: Policy, reason: str) -> None:
        super().__init__(policy)
        self.reason = reason

    def held_reason(self, view: DecisionView) -> str | None:
        return self.reason


def choice_line(status: dict[str, Any]) -> str | None:
    """The `status` answer's line about `auto`'s choice (None without one): the reason,
    which says "live: staying flat" or "unproven" where it must."""
    choice = status.get("policy_choice")
    if not choice:
        return None
    return (choice["reason"] if choice["stay_flat"] or not choice["proven"]
            else f"policy {choice['reason']}")


def log_choice(choice: PolicyChoice) -> None:
    """One log line: a warning unless the pick is proven."""
    level = logging.INFO if choice.proven else logging.WARNING
    log.log(level, "policy auto on %s: %s", choice.market, choice.reason)
