"""Risk limits: every threshold the gate and the breaker enforce, in one frozen value.

Percent fields are in percent (`2` means 2 %), as in `config.toml`, and are `Decimal` so that
sizing and breaker arithmetic on money stays exact. The `[risk]` config section maps 1:1 onto
these fields (`RiskLimits.from_mapping`); the defaults here are the defaults there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, Literal

VarMethod = Literal["historical", "parametric"]


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
        for name in ("risk_per_trade_pct", "max_position_pct", "var_limit_pct", "es_limit_pct"):
            _require(Decimal(0) < getattr(self, name) <= 100, f"{name} must be in (0, 100]")
        _require(Decimal(0) <= self.fee_reserve_pct < 100, "fee_reserve_pct must be in [0, 100)")
        _require(self.max_open_positions >= 1, "max_open_positions must be >= 1")
        _require(0.5 < self.var_confidence < 1, "var_confidence must be in (0.5, 1)")
        _require(self.var_horizon_days > 0, "var_horizon_days must be > 0")
        _require(
            self.var_method in ("historical", "parametric"),
            "var_method must be 'historical' or 'parametric'",
        )
        _require(self.min_return_observations >= 2, "min_return_observations must be >= 2")
        # A breaker whose halt level is below its reduce level would skip REDUCING silently.
        _require(
            Decimal(0) < self.daily_loss_reduce_pct <= self.daily_loss_halt_pct <= 100,
            "need 0 < daily_loss_reduce_pct <= daily_loss_halt_pct <= 100",
        )
        _require(
            Decimal(0) < self.drawdown_reduce_pct <= self.drawdown_halt_pct <= 100,
            "need 0 < drawdown_reduce_pct <= drawdown_halt_pct <= 100",
        )

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
