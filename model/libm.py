"""Elementwise exp/log/power with the same bits on every x86-64 CPU.

numpy picks its float kernels at run time by CPU feature. On an AVX-512 machine `np.exp`,
`np.log`, `np.log1p`, `np.expm1`, `np.log10` and `np.power` run numpy's own SIMD (or SVML)
approximations; on an AVX2 machine the same calls run the C library's scalar functions.
Both are accurate to an ulp or two, but not the *same* ulp, so a feature, a score or a
price computed with them could differ in the last bits between two machines, and a
decision that sits on a threshold could flip (ADR-045).

These ufuncs are compiled by numba and call the C library's scalar `exp`, `log`, ... for
every element, whatever the CPU: one order-defined result, equal to Python's `math.exp`
(a test holds them equal) and to what numpy gives on a machine without AVX-512. They
broadcast and accept scalars and `out=` like numpy's ufuncs, always in float64. Each is
compiled (or loaded from numba's cache) on first use, so importing this module is free.
Use them wherever a value can reach a decision, a fill or the ledger; numpy's own are fine
for reports and plots.

Numba is told not to use Intel's SVML (which would vectorize these calls per CPU) before it
is first imported.
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("NUMBA_DISABLE_INTEL_SVML", "1")

from typing import TYPE_CHECKING, Any

from numba import vectorize  # after the environment is set (above)

#: One loop per ufunc, float64: float32 or integer input is computed in float64 (a lazily
#: typed ufunc would pick its loop by call order, so the result dtype could differ by process).
_F64 = ["float64(float64)"]
_F64_2 = ["float64(float64, float64)"]



def _exp(x):  # type: ignore[no-untyped-def]
    """e**x, elementwise, as the C library computes it."""
    return math.exp(x)


def _log(x):  # type: ignore[no-untyped-def]
    """Natural logarithm, elementwise (NaN below 0, -inf at 0, as numpy)."""
    if x < 0:
        return math.nan
    if x == 0:
        return -math.inf
    return math.log(x)


def _log1p(x):  # type: ignore[no-untyped-def]
    """log(1 + x), exact near 0, elementwise (NaN below -1, -inf at -1, as numpy)."""
    if x < -1:
        return math.nan
    if x == -1:
        return -math.inf
    return math.log1p(x)


def _expm1(x):  # type: ignore[no-untyped-def]
    """e**x - 1, exact near 0, elementwise."""
    return math.expm1(x)


def _log10(x):  # type: ignore[no-untyped-def]
    """Base-10 logarithm, elementwise (NaN below 0, -inf at 0, as numpy)."""
    if x < 0:
        return math.nan
    if x == 0:
        return -math.inf
    return math.log10(x)


def _power(x, y):  # type: ignore[no-untyped-def]
    """x**y, elementwise, as the C library's `pow` computes it."""
    return math.pow(x, y)


def _tanh(x):  # type: ignore[no-untyped-def]
    """Hyperbolic tangent, elementwise (numpy's own runs SIMD code on AVX2 and AVX-512)."""
    return math.tanh(x)


#: name -> (kernel, signatures): compiled into a ufunc by `__getattr__` on first use.
_KERNELS = {
    "exp": (_exp, _F64), "log": (_log, _F64), "log1p": (_log1p, _F64),
    "expm1": (_expm1, _F64), "log10": (_log10, _F64), "power": (_power, _F64_2),
    "tanh": (_tanh, _F64),
}

if TYPE_CHECKING:
    import numpy as np

    exp: np.ufunc
    log: np.ufunc
    log1p: np.ufunc
    expm1: np.ufunc
    log10: np.ufunc
    power: np.ufunc
    tanh: np.ufunc


#: name -> numba's DUFunc, kept alive: it owns the compiled loop its numpy ufunc calls.
_COMPILED: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """Compile the ufunc `name` on first use and keep it as a module attribute.

    The attribute is the plain numpy ufunc under numba's DUFunc (`.ufunc`): the same one
    compiled float64 loop (the DUFunc is frozen to its signatures, so it never adds another),
    without the DUFunc's Python-level `__call__`, ~0.7 us a call that added up to a few % of
    a backtest on 20-coin arrays."""
    if name not in _KERNELS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    kernel, signatures = _KERNELS[name]
    compiled = vectorize(signatures, cache=True)(kernel)  # type: ignore[no-untyped-call]  # numba is untyped
    _COMPILED[name] = compiled
    ufunc = getattr(compiled, "ufunc", compiled)  # a numba that builds the ufunc itself
    ufunc.__doc__ = kernel.__doc__
    globals()[name] = ufunc
    return ufunc
