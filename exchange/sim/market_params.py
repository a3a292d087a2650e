"""The calibrated market model's parameters (`MarketParams`), and their JSON file.

One set of numbers per calibrated coin (a generated market with more coins cycles through
them) and a few global ones. `exchange.sim.calibrate.fit` estimates them from real bars;
`exchange.sim.market_model.MarketModel` generates bars from them. The file is small (a few
KB) and checked on load: a missing, negative or non-finite value is refused with the file
and the field named, so a hand-edited file cannot make a silently degenerate market.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from model import errors

SCHEMA_VERSION = 4
SCHEMA_CHANGE = "version 4 added the bridge range of 1h bars (range_bridge, range_run_on) and market-wide " \
    "halts (halt_share, halt_mean_bars); version 3 added " \
    "the market-wide volatility state (market_vol_var, " \
    "market_vol_persistence) and the bars' range (range_reach); version 2 the transient " \
    "pricing error and the bar length"
HOURS = 24

#: Per-coin fields (one value per calibrated coin), with their allowed range (low, high).
COIN_FIELDS: dict[str, tuple[float, float]] = {
    "vol_per_min": (1e-7, 1.0),          # RMS of the efficient log return, one minute
    "tail_df": (2.1, 1000.0),            # Student-t degrees of freedom of the shocks
    "jump_prob": (0.0, 0.5),             # chance of a jump in a minute
    "jump_size": (0.0, 1.0),             # sd of a jump's log size
    "half_spread_bps": (0.0, 1000.0),    # trades print at efficient quote +- this (bounce)
    "quote_refresh_prob": (0.01, 1.0),   # chance the quote moves to the efficient price
    "no_trade_prob": (0.0, 0.95),        # share of minutes without a trade (volume 0)
    "volume_level": (1e-6, 1e6),         # quote volume relative to the catalog's level
    "volume_persistence": (0.0, 0.9999),  # AR(1) coefficient of log volume, per minute
    "volume_noise": (0.0, 5.0),          # sd of log volume's innovation
    "volume_shock_link": (0.0, 5.0),     # log volume per unit |standardized shock|
    "beta": (-5.0, 5.0),                 # loading on the market factor (may be negative)
}
#: Global scalar fields and their allowed range.
SCALAR_FIELDS: dict[str, tuple[float, float]] = {
    "vol_fast_var": (0.0, 10.0),          # variance of the fast log-volatility component
    "vol_fast_persistence": (0.0, 0.99999),  # its AR(1) coefficient per minute
    "vol_slow_var": (0.0, 10.0),          # variance of the slow log-volatility component
    "vol_slow_persistence": (0.0, 0.99999),
    "volume_vol_link": (0.0, 5.0),        # log volume per unit of log volatility
    "activity_vol_link": (0.0, 20.0),     # log trading activity per unit of log volatility
    "no_trade_activity_slope": (0.0, 20.0),  # logit(no trade) falls this much per log activity
    "factor_vol_per_min": (0.0, 1.0),     # RMS of the market factor's one-minute return
    "factor_lag_min": (0.0, 1440.0),      # how slowly coins take the factor in (minutes)
    "transient_vol_ratio": (0.0, 10.0),   # sd of the pricing error's innovation / sigma_t
    "transient_persistence": (0.0, 0.999),  # its AR(1) coefficient per step
    "bar_minutes": (1.0, 60.0),           # one step of the model: a 1m bar, or a 1h bar (60)
    "market_vol_var": (0.0, 10.0),        # variance of the market-wide log-volatility state
    "market_vol_persistence": (0.0, 0.99999),  # its AR(1) coefficient per step
    "range_reach": (0.0, 10.0),           # a moving mid's path overshoots its ends by this
                                          # many sigmas x |N(0, 1)| (the bar's high and low)
    "range_bridge": (0.0, 10.0),          # > 0: the high and low are a Brownian bridge's
                                          # between the ends, its sd this many x the bar's
    "range_run_on": (0.0, 1.0),           # with the bridge: its path runs on the bar before's
                                          # move by this share at mid-bar (market_model)
    "halt_share": (0.0, 0.5),             # share of bars in which the whole market is halted
    "halt_mean_bars": (1.0, 1e6),         # a halt's mean length, bars (market_halts.py)
}
#: The bar lengths a model step can have: 1m (the embedded exchange) and 1h.
BAR_MINUTES = (1.0, 60.0)
#: Global per-hour (24 values, UTC hour) and per-regime (2 values: calm, turbulent) fields.
PROFILE_FIELDS: dict[str, tuple[int, float, float]] = {
    "hour_volume_profile": (HOURS, 1e-3, 1e3),
    "hour_vol_profile": (HOURS, 1e-3, 1e3),
    "regime_vol_multiplier": (2, 1e-3, 1e3),
    "regime_mean_minutes": (2, 1.0, 1e7),
}


class MarketParamsError(errors.DataError, ValueError):
    """A parameter file or value that cannot be used; the message names the file and field."""


@dataclass(frozen=True, slots=True)
class MarketParams:
    """The calibrated market model's parameters; see the field tables above for units.

    Per-coin fields are tuples of equal length (`coins`); `source` says what was fitted on.
    """

    symbols: tuple[str, ...]
    vol_per_min: tuple[float, ...]
    tail_df: tuple[float, ...]
    jump_prob: tuple[float, ...]
    jump_size: tuple[float, ...]
    half_spread_bps: tuple[float, ...]
    quote_refresh_prob: tuple[float, ...]
    no_trade_prob: tuple[float, ...]
    volume_level: tuple[float, ...]
    volume_persistence: tuple[float, ...]
    volume_noise: tuple[float, ...]
    volume_shock_link: tuple[float, ...]
    beta: tuple[float, ...]
    vol_fast_var: float
    vol_fast_persistence: float
    vol_slow_var: float
    vol_slow_persistence: float
    volume_vol_link: float
    activity_vol_link: float
    no_trade_activity_slope: float
    factor_vol_per_min: float
    factor_lag_min: float
    hour_volume_profile: tuple[float, ...]
    hour_vol_profile: tuple[float, ...]
    regime_vol_multiplier: tuple[float, ...]
    regime_mean_minutes: tuple[float, ...]
    transient_vol_ratio: float = 0.0
    transient_persistence: float = 0.0
    bar_minutes: float = 1.0
    market_vol_var: float = 0.0
    market_vol_persistence: float = 0.0
    #: real 1m ranges are narrow (Corwin-Schultz ~11 bps on Bittrex 2017-11 where Roll reads
    #: ~34): 0.25 puts the model's near them; an hour's range is wider (fitted on 1h bars)
    range_reach: float = 0.25
    #: 0 on 1m fits (the reach rule above: a minute of a thin book is a handful of trades);
    #: 1h fits set 1 (an hour is thousands of trades: its range is a diffusion's, see
    #: `MarketModel._prices`)
    range_bridge: float = 0.0
    range_run_on: float = 0.0
    halt_share: float = 0.0
    halt_mean_bars: float = 1.0
    source: str = ""

    def __post_init__(self) -> None:
        check(self.as_dict(), "MarketParams")

    @property
    def coins(self) -> int:
        """How many coins were calibrated (a larger market cycles through them)."""
        return len(self.symbols)

    def coin_subset(self, indices: Sequence[int]) -> MarketParams:
        """The same market with only the coins at `indices` (in that order): every per-coin
        field picked alike, the global ones kept."""
        if not indices or not all(0 <= i < self.coins for i in indices):
            raise MarketParamsError(f"coin indices {list(indices)} not within the "
                                    f"{self.coins} calibrated coins")
        picked: dict[str, Any] = {name: tuple(getattr(self, name)[i] for i in indices)
                                  for name in ("symbols", *COIN_FIELDS)}
        return replace(self, **picked)

    def as_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values (tuples as lists), plus the schema version."""
        values = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        return {"schema_version": SCHEMA_VERSION, **values}

    @classmethod
    def from_dict(cls, values: dict[str, Any], origin: str = "MarketParams") -> MarketParams:
        """Checked parameters from a dict as `as_dict` writes it; `MarketParamsError` names
        `origin` (the file) and the first bad field."""
        check(values, origin)
        kwargs = {f.name: values[f.name] for f in fields(cls) if f.name in values}
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
        return cls(**kwargs)

    def save(self, path: str | Path) -> None:
        """Write the JSON file atomically (a temp file renamed over `path`), one field a
        line so that two calibrations diff readably."""
        lines = [f"  {json.dumps(name)}: {json.dumps(value)}"
                 for name, value in self.as_dict().items()]
        write_atomically(Path(path), "{\n" + ",\n".join(lines) + "\n}\n")

    @classmethod
    def load(cls, path: str | Path) -> MarketParams:
        """Read and check a parameter file; `MarketParamsError` naming the file otherwise."""
        source = Path(path)
        try:
            values = json.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MarketParamsError(f"market parameter file {source} not found; make one with "
                                    "`entasis sim calibrate --data DIR --out FILE`") from None
        except (OSError, ValueError) as exc:
            raise MarketParamsError(f"{source}: not a JSON parameter file ({exc})") from None
        if not isinstance(values, dict):
            raise MarketParamsError(f"{source}: expected a JSON object of parameters")
        return cls.from_dict(values, str(source))


def write_atomically(target: Path, text: str) -> None:
    """Write `text` to `target` through a temp file in the same folder, renamed at the end:
    a reader never sees half a file, and an interrupted write leaves the old one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # mkstemp's 0600 would hide the file from others
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def check(values: dict[str, Any], origin: str) -> None:
    """Refuse a parameter set with a missing field, a value that is not a finite number in
    range, per-coin lists of unequal length, or another schema version."""
    version = values.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise MarketParamsError(f"{origin}: schema_version {version!r}, but this Entasis reads "
                                f"version {SCHEMA_VERSION} ({SCHEMA_CHANGE}); calibrate again "
                                "with `entasis sim calibrate`")
    symbols = _field(values, "symbols", origin)
    if not isinstance(symbols, list | tuple) or not symbols:
        raise MarketParamsError(f"{origin}: field symbols must be a non-empty list of names")
    for name, (low, high) in COIN_FIELDS.items():
        _numbers(values, name, origin, len(symbols), low, high)
    for name, (low, high) in SCALAR_FIELDS.items():
        _number(_field(values, name, origin), f"{name}", origin, low, high)
    for name, (length, low, high) in PROFILE_FIELDS.items():
        _numbers(values, name, origin, length, low, high)
    if values["bar_minutes"] not in BAR_MINUTES:
        raise MarketParamsError(f"{origin}: field bar_minutes = {values['bar_minutes']}; the "
                                "model steps 1m bars (1) or 1h bars (60)")


def _field(values: dict[str, Any], name: str, origin: str) -> Any:
    if name not in values:
        raise MarketParamsError(f"{origin}: field {name} is missing")
    return values[name]


def _numbers(values: dict[str, Any], name: str, origin: str, length: int, low: float,
             high: float) -> None:
    found = _field(values, name, origin)
    if not isinstance(found, list | tuple) or len(found) != length:
        raise MarketParamsError(f"{origin}: field {name} must be a list of {length} numbers "
                                f"(one per {'coin' if name in COIN_FIELDS else 'slot'})")
    for index, value in enumerate(found):
        _number(value, f"{name}[{index}]", origin, low, high)


def _number(value: Any, where: str, origin: str, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MarketParamsError(f"{origin}: field {where} must be a number, not {value!r}")
    if not math.isfinite(value):
        raise MarketParamsError(f"{origin}: field {where} is {value}; it must be finite")
    if value < 0 and low >= 0:
        raise MarketParamsError(f"{origin}: field {where} is negative ({value})")
    if not low <= value <= high:
        raise MarketParamsError(f"{origin}: field {where} = {value} is outside [{low}, {high}]")
