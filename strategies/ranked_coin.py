"""RankedCoin, one candidate of a ranking, and `ranked_coin`, its maker slot by slot.

Apart from strategies/ranking.py, which scores the coins and makes them: most readers of a
ranking (policies, the trader, the decision records) need only this type, not how coins
are scored. The maker and its slot setters (strategies/slot_init.py) sit with the class
because they are written against its fields in order; ranking's compiled minute path uses
the setters inline, ten coins a minute.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from strategies.ranking_reasons import Reasons
from strategies.slot_init import slot_setters


@dataclass(frozen=True, slots=True)
class RankedCoin:
    """One candidate: its probability score, the drift and volatility behind it, and the
    top drivers as (words, contribution to the expected log move over the horizon)."""

    symbol: str
    score: float
    drift: float  # expected log return per minute
    sigma: float  # log-return volatility per sqrt(minute)
    reasons: tuple[tuple[str, float], ...]
    forecast_return: float | None = None  # expected log return over the forecast horizon
    forecast_confidence: float | None = None  # calibrated P(direction right), (0, 1]
    anomaly_score: float | None = None  # x the alarm threshold; None = no score
    # The reasons' words as the ledger's canonical JSON text (state/codec.canonical_json of
    # [words, ...]), when `rank` made them in bulk; None: the reader encodes `reasons`.
    reasons_json: str | None = field(default=None, compare=False, repr=False)


_new_object = object.__new__
(_set_symbol, _set_score, _set_drift, _set_sigma, _set_reasons, _set_forecast_return,
 _set_forecast_confidence, _set_anomaly_score, _set_reasons_json) = slot_setters(RankedCoin)


def ranked_coin(symbol: str, score: float, drift: float, sigma: float, reasons: Reasons,
                reasons_json: str | None) -> RankedCoin:
    """`RankedCoin(symbol, score, drift, sigma, reasons, reasons_json=reasons_json)` (no
    forecast, no anomaly score), written slot by slot (strategies/slot_init.py): `rank`
    makes ten a minute, and the dataclass's frozen `__init__` costs twice as much."""
    coin = _new_object(RankedCoin)
    _set_symbol(coin, symbol)
    _set_score(coin, score)
    _set_drift(coin, drift)
    _set_sigma(coin, sigma)
    _set_reasons(coin, reasons)
    _set_forecast_return(coin, None)
    _set_forecast_confidence(coin, None)
    _set_anomaly_score(coin, None)
    _set_reasons_json(coin, reasons_json)
    return coin
