"""Where a backtest's play loop spends its time: a cProfile run's own time per module group.

Used by `python -m bench backtest` (bench/backtest.py), inside the profiled child
(bench/_backtest_children.py). Kept apart from both: the grouping (which project paths make a
group, and how time spent in numpy, the stdlib or C is charged to the project function that
called it) is its own small job, and it reads a `cProfile.Profile`, not the backtest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Module groups of the profile, first match wins (paths relative to the repository root).
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("replay feed (exchange.sim, exchange.feeds)", ("exchange/sim/", "exchange/feeds/")),
    ("features (strategies.features*, rolling, windows, regime)",
     ("strategies/features", "strategies/rolling", "strategies/windows", "strategies/regime",
      "strategies/feature_columns")),
    ("ranking (strategies.ranking)", ("strategies/ranking", "strategies/ranked_coin")),
    ("policy (strategies.policy, baselines, barrier)",
     ("strategies/policy", "strategies/baselines", "strategies/barrier")),
    ("trader + risk + broker + fills",
     ("trading/trader", "trading/operator", "risk/", "exchange/brokers/", "model/")),
    ("ledger (state)", ("state/",)),
    ("engine (trading.engine)", ("trading/engine",)),
    ("other project code", ("bot/", "exchange/", "strategies/", "trading/", "bench/")),
)
_ROOT = Path(__file__).resolve().parent.parent


def group_of(filename: str) -> str | None:
    """The module group of a project file; None for numpy, stdlib, C functions."""
    try:
        relative = Path(filename).resolve().relative_to(_ROOT).as_posix()
    except (ValueError, OSError):
        return None
    if relative.startswith(".venv/"):
        return None
    for name, prefixes in GROUPS:
        if relative.startswith(prefixes):
            return name
    return None


def breakdown(profiler: Any) -> dict[str, Any]:
    """Own time per module group (library time charged to its project callers), and the
    project functions with the most cumulative time."""
    import pstats

    # func -> (cc, nc, tt, ct, callers); typeshed omits the attribute
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    owners: dict[Any, dict[str, float]] = {}

    def owner(func: Any, depth: int = 0) -> dict[str, float]:
        """Shares of `func`'s own time by project group (through its callers if needed)."""
        if func in owners:
            return owners[func]
        group = group_of(func[0])
        if group is not None:
            owners[func] = {group: 1.0}
            return owners[func]
        callers = stats[func][4] if func in stats else {}
        weights = {c: edge[2] + edge[3] for c, edge in callers.items()}
        total = sum(weights.values())
        if depth > 40 or not callers or total <= 0:
            return {"other (outside the play loop / unattributed)": 1.0}
        owners[func] = {"other (outside the play loop / unattributed)": 1.0}  # cycle guard
        shares: dict[str, float] = {}
        for caller, weight in weights.items():
            for name, share in owner(caller, depth + 1).items():
                shares[name] = shares.get(name, 0.0) + share * weight / total
        owners[func] = shares
        return shares

    groups: dict[str, float] = {}
    total = 0.0
    for func, (_, _, tt, _, _) in stats.items():
        total += tt
        for name, share in owner(func).items():
            groups[name] = groups.get(name, 0.0) + tt * share
    top = sorted(((ct, func) for func, (_, _, _, ct, _) in stats.items()
                  if group_of(func[0]) is not None), reverse=True)
    entries = []
    for ct, (file, line, name) in top[:12]:
        relative = Path(file).resolve().relative_to(_ROOT).as_posix()
        entries.append({"function": f"{relative}:{line} {name}", "cum_s": round(ct, 3)})
    return {"total_s": round(total, 3),
            "groups_s": {k: round(v, 3) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])},
            "top_cumulative": entries}

