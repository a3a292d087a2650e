"""A policy wrapper that holds new entries back while a condition says so.

Two daemon guards need it: a silent market stream (bot/app/staleness.py `EntryPause`) and a
live `auto` whose pick is unproven (bot/app/policy_choice.py `StayFlat`). Both must keep
exits, stops and cancels flowing — what the account holds is still managed and exited — and
only turn BUYs into HOLDs, each with the reason in the decision audit. One class, so the two
can never disagree on what "no new entries" means.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from strategies.policy import Action, DecisionView, Policy, PolicyAction


class EntryHold:
    """Wraps `policy`; subclasses say why entries are held now (`held_reason`, None: not
    held). Everything but BUYs, and the `Policy` protocol's other members, pass through."""

    def __init__(self, policy: Policy) -> None:
        self.inner = policy
        self.name = policy.name
        self.entries_held = 0

    @property
    def version(self) -> str | None:
        """The inner policy's (it may hot-swap its model)."""
        return self.inner.version

    def between_steps(self, feature_symbols: Sequence[str]) -> None:
        self.inner.between_steps(feature_symbols)

    def attach_sources(self, forecast: object | None, anomaly: object | None) -> None:
        self.inner.attach_sources(forecast, anomaly)

    def held_reason(self, view: DecisionView) -> str | None:
        """Why entries are held at this step (the HOLD's reason), or None."""
        raise NotImplementedError

    def on_held(self, view: DecisionView, entries: int) -> None:
        """Told of each step whose entries were held (`entries` BUYs turned into HOLDs)."""

    def decide(self, view: DecisionView) -> list[PolicyAction]:
        actions = self.inner.decide(view)
        why = self.held_reason(view)
        if why is None:
            return actions
        entries = sum(a.action is Action.BUY for a in actions)
        self.entries_held += entries
        self.on_held(view, entries)
        return [replace(a, action=Action.HOLD, reason=why) if a.action is Action.BUY else a
                for a in actions]


__all__ = ["EntryHold"]
