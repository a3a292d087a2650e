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
broadcast and accept scalars and `out=` like numpy's ufuncs, always in float64. Use them wherever a value can reach
a decision, a fill or the ledger; numpy's own are fine for reports and plots.

Numba is told not to use Intel's SVML (which would vectorize these calls per CPU) before it
is first imported.
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("NUMBA_DISABLE_INTEL_SVML", "1")

from numba import vectorize  # noqa: E402  (after the environment is set)

#: One loop per ufunc, float64: float32 or integer input is computed in float64 (a lazily
#: typed ufunc would pick its loop by call order, so the result dtype could differ by process).
_F64 = ["float64(float64)"]
_F64_2 = ["float64(float64, float64)"]



@vectorize(_F64, cache=True)
def exp(x):  # type: ignore[no-untyped-def]
    """e**x, elementwise, as the C library computes it."""
    return math.exp(x)


@vectorize(_F64, cache=True)
def log(x):  # type: ignore[no-untyped-def]
    """Natural logarithm, elementwise (NaN below 0, -inf at 0, as numpy)."""
    if x < 0:
        return math.nan
    if x == 0:
        return -math.inf
    return math.log(x)


@vectorize(_F64, cache=True)
def log1p(x):  # type: ignore[no-untyped-def]
    """log(1 + x), exact near 0, elementwise (NaN below -1, -inf at -1, as numpy)."""
    if x < -1:
        return math.nan
    if x == -1:
        return -math.inf
    return math.log1p(x)


@vectorize(_F64, cache=True)
def expm1(x):  # type: ignore[no-untyped-def]
    """e**x - 1, exact near 0, elementwise."""
    return math.expm1(x)


@vectorize(_F64, cache=True)
def log10(x):  # type: ignore[no-untyped-def]
    """Base-10 logarithm, elementwise (NaN below 0, -inf at 0, as numpy)."""
    if x < 0:
        return math.nan
    if x == 0:
        return -math.inf
    return math.log10(x)


@vectorize(_F64_2, cache=True)
def power(x, y):  # type: ignore[no-untyped-def]
    """x**y, elementwise, as the C library's `pow` computes it."""
    return math.pow(x, y)


@vectorize(_F64, cache=True)
def tanh(x):  # type: ignore[no-untyped-def]
    """Hyperbolic tangent, elementwise (numpy's own runs SIMD code on AVX2 and AVX-512)."""
    return math.tanh(x)
