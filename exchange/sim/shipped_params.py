"""Which market the generator draws from: a shipped parameter set by name, a file, or none.

`[sim] params`, `entasis sim-server --params` and `entasis sim generate --params` take one
value with three meanings:

- the name of a parameter set shipped in the package's `exchange/sim/params/` folder
  (`"bittrex_2017-12"` for `bittrex_2017-12.json`), found through `importlib.resources`, so an
  installed wheel resolves it as a source checkout does;
- otherwise a path to a MarketParams JSON file (`entasis sim calibrate --out FILE`);
- `""`: no parameters, the generator's own regime-switching model (the market of the seeds,
  digests and figures made before the calibrated model was the default).

A value that is none of these is refused with the option named and the known names listed,
before any server starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from exchange.sim.market_params import MarketParams, MarketParamsError

#: The embedded simulator's default market: the model fitted on Bittrex 2017-12 1m bars.
DEFAULT_PARAMS = "bittrex_2017-12"
_PACKAGE = "exchange.sim"
_FOLDER = "params"
_SUFFIX = ".json"


def shipped_names() -> tuple[str, ...]:
    """The names of the parameter sets shipped with the package, sorted."""
    folder = resources.files(_PACKAGE) / _FOLDER
    if not folder.is_dir():
        return ()
    return tuple(sorted(entry.name.removesuffix(_SUFFIX) for entry in folder.iterdir()
                        if entry.name.endswith(_SUFFIX) and not entry.name.startswith(".")))


def params_problem(value: str, option: str = "[sim] params") -> str | None:
    """Why `value` names no parameter set (None when it does, or is "")."""
    if not value or value in shipped_names():
        return None
    if Path(value).is_file():
        return None
    known = ", ".join(shipped_names()) or "none shipped"
    remedies = (f"name a shipped parameter set ({known}), make a file with `entasis sim "
                "calibrate --data DIR --out FILE`, or give \"\" for the old regime-switching "
                "generator")
    if os.sep in value or value.endswith(_SUFFIX):
        return f"{option} {value!r}: parameter file not found; {remedies}"
    return f"{option} {value!r} is neither a shipped parameter set nor a file; {remedies}"


def load_params(value: str, option: str = "[sim] params") -> MarketParams | None:
    """The parameters `value` names (see the module docstring); None for "".

    Raises `MarketParamsError` naming `option` for an unknown name, a missing file or a bad
    file.
    """
    if not value:
        return None
    problem = params_problem(value, option)
    if problem is not None:
        raise MarketParamsError(problem)
    try:
        if value in shipped_names():
            with shipped_file(value) as path:
                return MarketParams.load(path)
        return MarketParams.load(value)
    except MarketParamsError as exc:
        raise MarketParamsError(f"{option}: {exc}") from None


@contextmanager
def shipped_file(name: str) -> Iterator[Path]:
    """The path of the shipped parameter set `name` while the context lasts (an installed
    wheel may have to unpack it); `MarketParamsError` listing the known names otherwise."""
    if name not in shipped_names():
        raise MarketParamsError(f"no shipped parameter set {name!r}; known: "
                                f"{', '.join(shipped_names()) or 'none'}")
    with resources.as_file(resources.files(_PACKAGE) / _FOLDER / f"{name}{_SUFFIX}") as path:
        yield path
