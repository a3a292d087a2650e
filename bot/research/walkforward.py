"""The walk-forward runner: every policy on every rolling fold, in-process or fanned out on Ray.

One task is (fold, policy, seed): fit the policy on the fold's training rows, then run it
once on the test rows through the fast backtester (same fill model, fees and risk sizing
as the engine) and return a small `FoldOutcome` (the test window's equity and a few
totals). Tasks are independent, so they fan out as Ray tasks: the grid goes to the object
store once (`ray.put`) and every task reads it from there without a copy. Results are
sorted by task key before anything is computed from them, never taken in completion order,
so the same seeds give the same report in-process and on Ray, on any number of workers.

Beside the policies asked for, three benchmarks always run through the same fills and fees:
flat, buy-and-hold of the universe's BTC pair alone, and buy-and-hold of every symbol.
The configurations run are recorded in the trials registry (`bot.research.trials`) before
the report is computed, so the deflated Sharpe ratio counts this run's too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bot.research.ray_session import RayChoice, connect_ray
from model import errors
from strategies.features_batch import BarGrid
from trading.folds import Fold, grid_rows, time_rows
from trading.folds import grid_folds as grid_folds  # the CLI makes its folds through here
from trading.walkforward_report import (
    FoldOutcome,
    WalkForwardReport,
    by_policy,
    equity_per_row,
    out_of_sample_returns,
    per_bar_sharpe,
    summarize,
)

BTC_BASE = "BTC"
FLAT, BTC_HOLD, EW_HOLD = "flat", "btc_buyhold", "ew_buyhold"
AUTO = "auto"  # not a batch policy: the selection among them (walkforward_auto.py)
RL_PORTFOLIO = "rl_portfolio"  # not a batch policy: the league, trained per fold (walkforward_league.py)


class WalkForwardError(errors.ConfigError, ValueError):
    """A walk-forward that cannot run as asked (no BTC pair, an unknown policy); the message
    says what to change."""


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A configuration: a batch policy by name with its parameters, shown as `label`, run on
    the grid's `symbols` (all when None)."""

    label: str
    name: str
    params: tuple[tuple[str, Any], ...] = ()
    symbols: tuple[str, ...] | None = None
    benchmark: bool = False

    def configuration(self) -> dict[str, Any]:
        """What makes this configuration itself, for the trials registry."""
        return {"policy": self.name, "params": dict(self.params),
                "symbols": list(self.symbols) if self.symbols is not None else None}


@dataclass(frozen=True, slots=True)
class WalkForwardTask:
    """One policy on one fold with one seed; `settings` go to the evaluator unread here (the
    fast backtester's `FastSettings`)."""

    fold: Fold
    policy: PolicySpec
    seed: int
    balance: float
    settings: Any = None

    @property
    def key(self) -> tuple[int, str, int]:
        """(fold, policy label, seed), as `FoldOutcome.key`."""
        return self.fold.index, self.policy.label, self.seed


Evaluator = Callable[[BarGrid, WalkForwardTask], FoldOutcome]
Progress = Callable[[FoldOutcome, int, int], None]


@dataclass(frozen=True, slots=True)
class WalkForwardResult:
    """The folds, the report, and where the trial count came from."""

    folds: tuple[Fold, ...]
    report: WalkForwardReport
    policies: tuple[PolicySpec, ...]
    seeds: tuple[int, ...]
    scope: str
    outcomes: tuple[FoldOutcome, ...] = field(repr=False, default=())


# -- policies and benchmarks --------------------------------------------------------------


def btc_pair(symbols: Sequence[str]) -> str:
    """The universe's BTC pair: BTC against the quote the other pairs share (BTCUSDT among
    ...USDT pairs); `WalkForwardError` when there is none."""
    for symbol in symbols:
        quote = symbol[len(BTC_BASE):]
        if symbol.startswith(BTC_BASE) and quote and (
                len(symbols) == 1 or any(s != symbol and s.endswith(quote) for s in symbols)):
            return symbol
    shown = ", ".join(symbols[:8]) + (" ..." if len(symbols) > 8 else "")
    raise WalkForwardError(
        f"no BTC pair in the universe ({shown}): the BTC buy-and-hold benchmark needs one; "
        "add the BTC_<QUOTE> bar file to the --data folder")


def benchmarks(symbols: Sequence[str]) -> tuple[PolicySpec, ...]:
    """Flat, buy-and-hold of the BTC pair alone, buy-and-hold of every symbol."""
    return (PolicySpec(FLAT, "flat", benchmark=True),
            PolicySpec(BTC_HOLD, "buyhold", symbols=(btc_pair(symbols),), benchmark=True),
            PolicySpec(EW_HOLD, "buyhold", benchmark=True))


def with_benchmarks(asked: Sequence[PolicySpec], symbols: Sequence[str]) -> tuple[PolicySpec, ...]:
    """The policies asked for, then each benchmark not already asked for (by label)."""
    labels = {spec.label for spec in asked}
    if len(labels) != len(asked):
        raise WalkForwardError(f"a policy is named twice in {[s.label for s in asked]}; "
                               "list each once")
    return (*asked, *(b for b in benchmarks(symbols) if b.label not in labels))


# -- inputs -------------------------------------------------------------------------------


def study_grid(data: Path, timeframe: str | None, from_ms: int | None,
               to_ms: int | None) -> BarGrid:
    """The folder's bars of `timeframe` (its only one when None), rows opening in
    [from_ms, to_ms): loaded once for every task."""
    from exchange.sim.bar_files import load_bar_grid

    return time_rows(load_bar_grid(data, timeframe), from_ms, to_ms)


def fast_settings(config: Any, bar_ms: int) -> Any:
    """The fast backtester's fills, fees and risk limits from the config (`FastSettings`)."""
    from trading.fast_backtest import FastSettings

    return FastSettings.from_config(config, bar_ms)


# -- tasks --------------------------------------------------------------------------------


def plan_tasks(folds: Sequence[Fold], policies: Sequence[PolicySpec], seeds: Sequence[int],
               balance: float, settings: Any = None) -> list[WalkForwardTask]:
    """Every (fold, policy, seed), sorted by key."""
    tasks = [WalkForwardTask(fold, policy, seed, balance, settings)
             for fold in folds for policy in policies for seed in seeds]
    return sorted(tasks, key=lambda task: task.key)


def symbol_columns(grid: BarGrid, symbols: Sequence[str] | None) -> BarGrid:
    """The grid with only `symbols`' columns (all when None), in the grid's order."""
    if symbols is None:
        return grid
    keep = [i for i, s in enumerate(grid.symbols) if s in set(symbols)]
    return replace(grid, symbols=tuple(grid.symbols[i] for i in keep),
                   open=grid.open[:, keep], high=grid.high[:, keep], low=grid.low[:, keep],
                   close=grid.close[:, keep], quote_volume=grid.quote_volume[:, keep])


def fast_evaluator(grid: BarGrid, task: WalkForwardTask) -> FoldOutcome:
    """Fit on the fold's training rows only, then run the fast backtester on the test rows
    with the grid cut to the fold (training window, embargo, test window): warm-up may read
    the rows before the test, no row after it exists for it."""
    from trading.fast_backtest import run_fast

    if task.policy.name == AUTO:  # the selection itself, inside this task (walkforward_auto.py)
        from bot.research.walkforward_auto import auto_evaluator

        return auto_evaluator(grid, task, fast_evaluator)
    if task.policy.name == RL_PORTFOLIO:  # the self-play league, inside this task
        from bot.research.walkforward_league import league_evaluator

        return league_evaluator(symbol_columns(grid, task.policy.symbols), task)
    fold = task.fold
    universe = symbol_columns(grid, task.policy.symbols)
    policy = seeded_policy(task)
    policy.fit(grid_rows(universe, fold.train_start_row, fold.train_stop_row),
               fold.train_stop_row - fold.train_start_row)
    # The fold's own rows, training window first: warm-up reads them, never a later row.
    # Not from row 0: the backtester's cost grows with the rows it is given.
    rows_read = grid_rows(universe, fold.train_start_row, fold.test_stop_row)
    run = run_fast(rows_read, policy, task.settings,
                   start_row=fold.test_start_row - fold.train_start_row,
                   balance=task.balance)
    rows = fold.test_stop_row - fold.test_start_row
    first_close_ms = fold.open_ms(fold.test_start_row) + grid.bar_ms
    equity = equity_per_row(run.equity_ms, run.equity, first_close_ms, grid.bar_ms, rows,
                            task.balance)
    return FoldOutcome(policy=task.policy.label, fold=fold.index, seed=task.seed,
                       balance=task.balance,
                       equity_ms=first_close_ms + grid.bar_ms * np.arange(rows, dtype=np.int64),
                       equity=equity, fees=float(run.fees),
                       traded_notional=float(run.traded_notional),
                       exposed_steps=int(run.exposed_steps))


def check_policies(specs: Sequence[PolicySpec]) -> None:
    """Refuse a policy the fast backtester cannot batch, or parameters it does not take,
    before any data is loaded (inside a Ray task the error would come back wrapped)."""
    from bot.research.walkforward_auto import auto_settings
    from bot.research.walkforward_league import LeagueSettings
    from trading.batch_policies import BATCH_POLICIES

    unknown = [spec.name for spec in specs
               if spec.name not in (*BATCH_POLICIES, AUTO, RL_PORTFOLIO)]
    if unknown:
        raise WalkForwardError(f"--policies: no batch policy {', '.join(map(repr, unknown))};"
                               f" choose among {', '.join(sorted(BATCH_POLICIES))}, {AUTO} or "
                               f"{RL_PORTFOLIO}")
    for spec in specs:
        if spec.name == AUTO:
            auto_settings(dict(spec.params))
        elif spec.name == RL_PORTFOLIO:
            LeagueSettings.parse(dict(spec.params))
        else:
            batch_policy(spec.name, dict(spec.params))


def seeded_policy(task: WalkForwardTask) -> Any:
    """The task's batch policy; one that takes a `seed` (the forecast's training subsample)
    gets the task's, unless its parameters fix one: so `--seeds K` runs K different fits."""
    from trading.batch_policies import BATCH_POLICIES

    params = dict(task.policy.params)
    factory = BATCH_POLICIES.get(task.policy.name)
    if factory is not None and "seed" not in params and (
            "seed" in inspect.signature(factory).parameters):
        params["seed"] = task.seed
    return batch_policy(task.policy.name, params)


def batch_policy(name: str, params: Mapping[str, Any]) -> Any:
    """A fresh batch policy of the fast backtester by name; `WalkForwardError` naming the
    known ones otherwise."""
    from trading.batch_policies import BATCH_POLICIES

    if name not in BATCH_POLICIES:
        raise WalkForwardError(f"--policies: no batch policy {name!r}; choose among "
                               f"{', '.join(sorted(BATCH_POLICIES))}")
    try:
        return BATCH_POLICIES[name](**params)
    except TypeError as exc:
        raise WalkForwardError(f"--policies {name}: {exc} (parameters are the fields of "
                               f"{BATCH_POLICIES[name].__name__})") from None


def run_task(grid: BarGrid, task: WalkForwardTask, evaluate: Evaluator) -> FoldOutcome:
    """One task; its outcome must carry the task's key (an evaluator that mislabels would
    put one policy's returns under another's name)."""
    outcome = evaluate(grid, task)
    if outcome.key != task.key:
        raise errors.InternalError(f"evaluator returned {outcome.key} for task {task.key}")
    return outcome


def run_in_process(grid: BarGrid, tasks: Sequence[WalkForwardTask], evaluate: Evaluator,
                   progress: Progress | None = None) -> list[FoldOutcome]:
    """Every task here, one after the other, sorted by key."""
    outcomes = []
    for done, task in enumerate(tasks, 1):
        outcomes.append(run_task(grid, task, evaluate))
        if progress is not None:
            progress(outcomes[-1], done, len(tasks))
    return sorted(outcomes, key=lambda o: o.key)


# -- Ray ----------------------------------------------------------------------------------


def run_on_ray(grid: BarGrid, tasks: Sequence[WalkForwardTask], evaluate: Evaluator,
               choice: RayChoice, progress: Progress | None = None) -> list[FoldOutcome]:
    """Every task as a Ray task on the grid put in the object store once, sorted by key."""
    import ray

    started = connect_ray(choice)
    try:
        remote = ray.remote(num_cpus=1)(run_task)
        grid_ref = ray.put(grid)
        pending = [remote.remote(grid_ref, task, evaluate) for task in tasks]
        outcomes: list[FoldOutcome] = []
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            outcomes.append(ray.get(ready[0]))
            if progress is not None:
                progress(outcomes[-1], len(outcomes), len(tasks))
        return sorted(outcomes, key=lambda o: o.key)
    finally:
        if started:
            ray.shutdown()


# -- the walk-forward -----------------------------------------------------------------------


def trial_scope(data: Path, timeframe: str) -> str:
    """The registry scope of a data folder at a timeframe."""
    return f"{data.resolve()}@{timeframe}"


def walk_forward(grid: BarGrid, folds: Sequence[Fold], policies: Sequence[PolicySpec], *,
                 seeds: Sequence[int] = (0,), balance: float = 10_000.0,
                 settings: Any = None, evaluate: Evaluator = fast_evaluator,
                 ray: RayChoice | None = None, progress: Progress | None = None
                 ) -> list[FoldOutcome]:
    """Every policy on every fold with every seed, sorted by (fold, policy, seed)."""
    tasks = plan_tasks(folds, policies, seeds, balance, settings)
    if ray is None:
        return run_in_process(grid, tasks, evaluate, progress)
    return run_on_ray(grid, tasks, evaluate, ray, progress)


def run_walkforward(grid: BarGrid, folds: Sequence[Fold], asked: Sequence[PolicySpec], *,
                    trials_path: Path, scope: str, fold_settings: Mapping[str, Any],
                    seeds: Sequence[int] = (0,), balance: float = 10_000.0,
                    settings: Any = None, evaluate: Evaluator = fast_evaluator,
                    ray: RayChoice | None = None, progress: Progress | None = None,
                    n_boot: int = 2_000) -> WalkForwardResult:
    """The whole study: run (with the benchmarks), record the configurations in the trials
    registry at `trials_path`, and compute the report. Nothing is recorded if a task fails.
    An `auto` policy's candidates are trials too, one per candidate."""
    from bot.research.trials import TrialRegistry
    from bot.research.walkforward_auto import candidate_trials

    policies = with_benchmarks(asked, grid.symbols)
    outcomes = walk_forward(grid, folds, policies, seeds=seeds, balance=balance,
                            settings=settings, evaluate=evaluate, ray=ray, progress=progress)
    sharpes = {name: per_bar_sharpe(out_of_sample_returns(runs))
               for name, runs in by_policy(outcomes).items()}
    trials = [(spec.label, {**spec.configuration(), **fold_settings}, sharpes[spec.label])
              for spec in policies]
    for spec in policies:
        if spec.name == AUTO:
            trials += candidate_trials([o for o in outcomes if o.policy == spec.label],
                                       {**spec.configuration(), **fold_settings})
    with TrialRegistry(trials_path) as registry:
        registry.record(scope, trials)
        n_trials, trial_sharpes = registry.trial_count(scope), registry.trial_sharpes(scope)
    report = summarize(outcomes, grid.bar_ms, n_trials=n_trials, trial_sharpes=trial_sharpes,
                       n_boot=n_boot, seed=min(seeds, default=0))
    return WalkForwardResult(tuple(folds), report, tuple(policies), tuple(seeds), scope,
                             tuple(outcomes))


def result_json(result: WalkForwardResult) -> dict[str, Any]:
    """The `--json` object: `folds`, `policies` (label -> figures with `ci`), `pbo`, and
    `selections` (auto's pick per fold and seed, with each candidate's selection figures)."""
    from bot.research.walkforward_auto import selections_json

    report = result.report
    return {"folds": [fold.as_dict() for fold in result.folds],
            "policies": {label: {**summary.as_dict(),
                                 "benchmark": next(p.benchmark for p in result.policies
                                                   if p.label == label)}
                         for label, summary in report.policies.items()},
            "pbo": report.pbo_dict(), "n_trials": report.n_trials, "seeds": list(result.seeds),
            "trial_scope": result.scope,
            "selections": selections_json(result.outcomes, result.folds[0].bar_ms
                                          if result.folds else 0)}
