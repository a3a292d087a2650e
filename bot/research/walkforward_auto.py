"""`auto` in a walk-forward: the daemon's default choice, made again inside every fold.

`--policies auto` is the selection itself, not a policy: on each fold it runs every candidate
(the fast backtester's batch policies, flat excepted: flat is the fallback) on the fold's
*selection window*, keeps those that beat flat there after costs (total return > 0 and
Sharpe > 0), and trades the one with the best Sharpe on the test window, or nothing at all
(flat) when none did. So the default's own out-of-sample record is one command.

The selection window is the last `selection_share` (a third by default) of the training
window; a candidate is fitted on the training rows before it. A learning candidate (the
forecast top-k) scored on the rows it was fitted on would win on its own overfit, so every
candidate is scored on rows none was fitted on, and all on the same rows; rule-based ones
read the earlier rows as warm-up. No row at or after the training stop is read: the choice
of fold k cannot depend on its test window (tests/integration/test_walkforward_auto.py).

A candidate may carry parameters, `NAME@KEY=VALUE@KEY=VALUE` (the batch policy's fields):
`auto:candidates=baseline@edge_cost_margin=0+baseline@edge_cost_margin=2@entry_every_minutes=60`
chooses the baseline's no-trade band and entry cadence on the training folds alone, the
configuration traded on the test window being the one that won its selection window.

Runs inside the fold's task (in-process or a Ray task alike), so Ray and in-process choose
the same. Each candidate is a configuration tried: the runner records one trial per
candidate (`candidate_trials`), so the deflated Sharpe counts the search auto makes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from model import errors
from strategies.features_batch import BarGrid
from trading.folds import Fold
from trading.walkforward_report import (
    FoldOutcome,
    Selection,
    by_policy,
    fold_figures,
    out_of_sample_returns,
    per_bar_sharpe,
)

AUTO = "auto"
FLAT = "flat"  # the fallback: trades nothing
PARAMETER = "@"  # baseline@edge_cost_margin=1: a candidate's parameters
SELECTION_SHARE = 1 / 3
NOT_CANDIDATES = frozenset((AUTO, FLAT))

Evaluator = Callable[[BarGrid, Any], FoldOutcome]  # the runner's, for one WalkForwardTask


class AutoSettingsError(errors.ConfigError, ValueError):
    """`auto` parameters that cannot select (an unknown candidate, a selection window that
    leaves nothing to fit on); the message says what to write."""


@dataclass(frozen=True, slots=True)
class AutoSettings:
    """Which candidates auto chooses among, and what share of the training window it scores
    them on."""

    candidates: tuple[str, ...]
    selection_share: float = SELECTION_SHARE


def default_candidates() -> tuple[str, ...]:
    """Every batch policy the fast backtester offers, flat excepted, in registry order."""
    from trading.batch_policies import BATCH_POLICIES

    return tuple(name for name in BATCH_POLICIES if name not in NOT_CANDIDATES)


def auto_settings(params: Mapping[str, Any]) -> AutoSettings:
    """`auto`'s parameters (`auto:candidates=sma+baseline:selection_share=0.5`), checked;
    `AutoSettingsError` saying what to write otherwise."""
    from trading.batch_policies import BATCH_POLICIES

    unknown = sorted(set(params) - {"candidates", "selection_share"})
    if unknown:
        raise AutoSettingsError(f"--policies auto: no parameter {', '.join(map(repr, unknown))};"
                               " auto takes candidates=NAME+NAME and selection_share=FRACTION")
    text = params.get("candidates")
    candidates = (default_candidates() if text is None
                  else tuple(n for n in str(text).split("+") if n))
    wrong = [n for n in candidates
             if (name := candidate_spec(n)[0]) not in BATCH_POLICIES or name in NOT_CANDIDATES]
    if not candidates or wrong:
        raise AutoSettingsError(
            f"--policies auto:candidates={text}: {', '.join(map(repr, wrong)) or 'none named'}"
            f" cannot be a candidate; choose among {', '.join(default_candidates())} "
            "joined by '+' (flat is the fallback), parameters as NAME@KEY=VALUE")
    for candidate in candidates:
        name, fields = candidate_spec(candidate)
        try:
            BATCH_POLICIES[name](**dict(fields))
        except (TypeError, ValueError) as exc:
            raise AutoSettingsError(f"--policies auto: candidate {candidate!r}: {exc} (its "
                                   f"parameters are the fields of {BATCH_POLICIES[name].__name__})"
                                   ) from None
    share = params.get("selection_share", SELECTION_SHARE)
    if not isinstance(share, int | float) or not 0 < share < 1:
        raise AutoSettingsError(f"--policies auto:selection_share={share}: give a fraction of "
                               "the training window between 0 and 1 (e.g. 0.33)")
    return AutoSettings(candidates, float(share))


def candidate_spec(candidate: str) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """`baseline@edge_cost_margin=0.5@entry_every_minutes=15` -> the batch policy's name and
    its parameters (values read as int, then float, else kept as text);
    `AutoSettingsError` for a parameter without '=' or a '/' (labels split on it)."""
    name, *assignments = candidate.split(PARAMETER)
    fields: list[tuple[str, Any]] = []
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key or "/" in candidate:
            raise AutoSettingsError(f"--policies auto: candidate {candidate!r}: write its "
                                   "parameters as NAME@KEY=VALUE[@KEY=VALUE] "
                                   "(e.g. baseline@edge_cost_margin=1)")
        fields.append((key, parse_number(value)))
    return name, tuple(fields)


def parse_number(text: str) -> int | float | str:
    """A parameter value as written: an int, else a float, else the text itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def selection_fold(fold: Fold, share: float) -> Fold:
    """The fold the candidates are scored on: fitted on the training window's first rows,
    tested on its last `share` of rows. `AutoSettingsError` when either part is empty."""
    train = fold.train_stop_row - fold.train_start_row
    scored = round(train * share)
    if not 1 < scored < train:
        raise AutoSettingsError(
            f"auto: a selection window of {share:g} of {train} training bars leaves no rows "
            "to fit on or to score on; use longer --train-days or another selection_share")
    cut = fold.train_stop_row - scored
    return replace(fold, train_stop_row=cut, test_start_row=cut,
                   test_stop_row=fold.train_stop_row)


def beats_flat(outcome: FoldOutcome, bar_ms: int) -> bool:
    """Whether a run made money with a positive Sharpe after costs: what flat cannot lose."""
    figures = fold_figures(outcome, bar_ms)
    return figures.total_return > 0 and figures.sharpe > 0


def pick(candidates: Sequence[FoldOutcome], bar_ms: int) -> str:
    """The candidate name with the best Sharpe among those that beat flat (the first on a
    tie), or "flat"; outcomes are labelled `<auto label>/<candidate>`."""
    best, best_sharpe = FLAT, 0.0
    for outcome in candidates:
        sharpe = fold_figures(outcome, bar_ms).sharpe
        if beats_flat(outcome, bar_ms) and (best == FLAT or sharpe > best_sharpe):
            best, best_sharpe = candidate_name(outcome.policy), sharpe
    return best


def candidate_name(label: str) -> str:
    """`auto/sma` -> `sma`; `auto/baseline@edge_cost_margin=1` -> `baseline@edge_cost_margin=1`."""
    return label.rpartition("/")[2]


def select(grid: BarGrid, task: Any, evaluate: Evaluator) -> Selection:
    """Every candidate on the task fold's selection window through `evaluate` (the fast
    backtester's), and the pick. A candidate that cannot be fitted there (too few rows for
    the forecast) is left out, with why."""
    settings = auto_settings(dict(task.policy.params))
    inner = selection_fold(task.fold, settings.selection_share)
    runs: list[FoldOutcome] = []
    unfit: list[tuple[str, str]] = []
    for candidate in settings.candidates:
        name, fields = candidate_spec(candidate)
        spec = replace(task.policy, label=f"{task.policy.label}/{candidate}", name=name,
                       params=fields)
        try:
            runs.append(evaluate(grid, replace(task, fold=inner, policy=spec)))
        except errors.DataError as exc:
            unfit.append((candidate, str(exc)))
    return Selection(pick(runs, grid.bar_ms), tuple(runs), tuple(unfit))


def auto_evaluator(grid: BarGrid, task: Any, evaluate: Evaluator) -> FoldOutcome:
    """Choose on the selection window, then trade the pick (or flat) on the test window,
    both through `evaluate`; the outcome carries the choice."""
    selection = select(grid, task, evaluate)
    name, fields = candidate_spec(selection.picked)
    traded = replace(task.policy, name=name, params=fields)
    outcome = evaluate(grid, replace(task, policy=traded))
    return replace(outcome, selection=selection)


def candidate_trials(outcomes: Sequence[FoldOutcome], configuration: Mapping[str, Any]
                     ) -> list[tuple[str, dict[str, Any], float]]:
    """One trial per (auto, candidate): the candidate's selection-window returns over every
    fold (seeds averaged), configured as what `auto` (its `configuration`) tried."""
    runs = [run for outcome in outcomes if outcome.selection is not None
            for run in outcome.selection.candidates]
    return [(label, {**configuration, "candidate": candidate_name(label),
                     "window": "selection"},
             per_bar_sharpe(out_of_sample_returns(folds)))
            for label, folds in by_policy(runs).items()]


def selections_json(outcomes: Sequence[FoldOutcome], bar_ms: int) -> dict[str, list[Any]]:
    """Per auto label, per fold and seed: the pick, each candidate's selection-window
    figures, and the candidates that could not be fitted."""
    out: dict[str, list[Any]] = {}
    for outcome in sorted(outcomes, key=lambda o: o.key):
        if outcome.selection is None:
            continue
        chosen = outcome.selection
        out.setdefault(outcome.policy, []).append({
            "fold": outcome.fold, "seed": outcome.seed, "picked": chosen.picked,
            "candidates": {candidate_name(run.policy): fold_figures(run, bar_ms).as_dict()
                           for run in chosen.candidates},
            "unfit": dict(chosen.unfit)})
    return out
