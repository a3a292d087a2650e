"""The fast backtester's policies by name: what `--policies` and `--policy` (with `--engine
fast`) accept.

Apart from trading/fast_policies.py, fast_baseline.py and topk_batch.py (the rule-based policies)
so that a policy built on them, like the forecast top-k of trading/forecast_topk.py, can be
listed here too without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable

from trading.fast_baseline import BaselineBatch
from trading.fast_policies import (
    BatchPolicy,
    BuyHoldBatch,
    FlatBatch,
    SmaBatch,
)
from trading.forecast_topk import ForecastTopKBatch
from trading.topk_batch import TopKBatch

BATCH_POLICIES: dict[str, Callable[..., BatchPolicy]] = {
    "baseline": BaselineBatch,
    "flat": FlatBatch,
    "buyhold": BuyHoldBatch,
    "sma": SmaBatch,
    "topk": TopKBatch,
    "forecast": ForecastTopKBatch,
}


def make_batch_policy(name: str, **params: object) -> BatchPolicy:
    """The named batch policy; ValueError naming the known ones otherwise."""
    try:
        factory = BATCH_POLICIES[name]
    except KeyError:
        known = ", ".join(sorted(BATCH_POLICIES))
        raise ValueError(f"no batch policy {name!r} for --engine fast; choose one of: {known}"
                         ) from None
    return factory(**params)
