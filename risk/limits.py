"""Risk limits: every threshold the gate and the breaker enforce, in one frozen value.

Percent fields are in percent (`2` means 2 %), as in `config.toml`, and are `Decimal` so that
sizing and breaker arithmetic on money stays exact. The `[risk]` config section maps 1:1 onto
these fields (`RiskLimits.from_mapping`). This module owns every default and every bound:
bot/config.py's `RiskConfig` takes its defaults from `RiskLimits()` and its field bounds from
`LIMIT_BOUNDS`, and runs `RiskLimits` itself for the rules between fields, so backtests and
RL, which build `RiskLimits` without the app config, accept exactly what the config accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, Literal

VarMethod = Literal["historical", "parametric"]


@dataclass(frozen=True, slots=True)
class Bounds:
    """The allowed range of one numeric setting; None means no bound on that side."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def as_field_kwargs(self) -> dict[str, float]:
        """The bounds as pydantic `Field(...)` keywords (`gt=0, le=100`)."""
        return {name: bound for name in ("gt", "ge", "lt", "le")
                if (bound := getattr(self, name)) is not None}

    def problem(self, name: str, value: Any) -> str:
        """Why `value` is out of range for setting `name` ("" when it is in range)."""
        number = Decimal(str(value))
        if not number.is_finite():
            return f"{name} = {value}: must be a finite number {self.describe()}"
        checks = (("gt", number.__gt__), ("ge", number.__ge__), ("lt", number.__lt__),
                  ("le", number.__le__))
        for attribute, holds in checks:
            bound = getattr(self, attribute)
            if bound is not None and not holds(Decimal(str(bound))):
                return f"{name} = {value}: must be {self.describe()}"
        return ""

    def describe(self) -> str:
        """The range in words: "> 0 and <= 100"."""
        signs = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
        return " and ".join(f"{sign} {getattr(self, name):g}" for name, sign in signs
                            if getattr(self, name) is not None)


_PERCENT = Bounds(gt=0, le=100)

#: The range of every numeric field of `RiskLimits` (and of the `[risk]` config keys).
LIMIT_BOUNDS: Mapping[str, Bounds] = {
    "risk_per_trade_pct": _PERCENT,
    "max_position_pct": _PERCENT,
    "max_open_positions": Bounds(ge=1),
    # Fees are a fraction of a percent: a reserve above 10 % is a typo, not a setting.
    "fee_reserve_pct": Bounds(ge=0, le=10),
    "var_limit_pct": _PERCENT,
    "es_limit_pct": _PERCENT,
    "var_confidence": Bounds(gt=0.5, lt=1),
    "var_horizon_days": Bounds(gt=0, le=30),
    # Below 10 rows a VaR or ES estimate is noise, whatever the confidence.
    "min_return_observations": Bounds(ge=10),
    "daily_loss_reduce_pct": _PERCENT,
    "daily_loss_halt_pct": _PERCENT,
    "drawdown_reduce_pct": _PERCENT,
    "drawdown_halt_pct": _PERCENT,
}


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Thresholds for sizing, exposure, VaR/ES and the drawdown breaker."""

    # Sizing: lose at most this share of equity if the stop is hit (times confidence).
    risk_per_trade_pct: Decimal = Decimal("2")
    # No single symbol (held + pending buys + this order) above this share of equity.
    max_position_pct: Decimal = Decimal("5")
    # Distinct symbols held or being bought at once.
    max_open_positions: int = 10
    # Quote reserved on top of the order cost for fees, so a fill cannot overdraw cash.
    fee_reserve_pct: Decimal = Decimal("0.1")
    # Post-trade portfolio limits, as a share of equity; deny when strictly above.
    var_limit_pct: Decimal = Decimal("2")
    es_limit_pct: Decimal = Decimal("3")
    var_confidence: float = 0.95
    var_horizon_days: float = 1.0
    var_method: VarMethod = "historical"  # which VaR the limit applies to; ES is historical
    # Fewer complete rows of return history than this and the gate refuses to guess.
    min_return_observations: int = 100
    # Drawdown breaker, compared with >= (reaching the threshold trips it).
    daily_loss_reduce_pct: Decimal = Decimal("3")
    daily_loss_halt_pct: Decimal = Decimal("5")
    drawdown_reduce_pct: Decimal = Decimal("10")
    drawdown_halt_pct: Decimal = Decimal("15")

    def __post_init__(self) -> None:
        for name, bounds in LIMIT_BOUNDS.items():
            problem = bounds.problem(name, getattr(self, name))
            _require(not problem, problem)
        _require(
            self.var_method in ("historical", "parametric"),
            "var_method must be 'historical' or 'parametric'",
        )
        # A breaker whose halt level is below its reduce level would skip REDUCING silently.
        for level in ("daily_loss", "drawdown"):
            reduce, halt = getattr(self, f"{level}_reduce_pct"), getattr(self, f"{level}_halt_pct")
            _require(reduce <= halt, f"{level}_reduce_pct ({reduce}) must be <= "
                                     f"{level}_halt_pct ({halt})")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> RiskLimits:
        """Build from a config section (floats welcome): percent fields become exact Decimals.

        `Decimal(str(x))` keeps 0.1 as 0.1 rather than its binary float expansion.
        """
        known = {f.name: f for f in fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"unknown risk limit(s): {', '.join(sorted(unknown))}")
        converted: dict[str, Any] = {}
        for name, value in values.items():
            if name.endswith("_pct"):
                converted[name] = Decimal(str(value))
            else:
                converted[name] = value
        return cls(**converted)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
