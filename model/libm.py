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

Each ufunc's loop is a numba `cfunc` kept in numba's on-disk cache (`_LOOPS`): a process
loads it in a few ms. `numba.vectorize` caches its kernel but builds the loop around it
anew in every process (~40 ms each, five of them in a backtest's first minutes). The loop
calls the same kernel on each element (a test holds the two forms to the same bits), and
`vectorize` remains the fallback where the cached form cannot be built.
"""

from __future__ import annotations

import importlib
import math
import os

os.environ.setdefault("NUMBA_DISABLE_INTEL_SVML", "1")

from typing import TYPE_CHECKING, Any

from llvmlite import ir
from numba import cfunc, njit, types, vectorize  # after the environment is set (above)
from numba.core.extending import intrinsic

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


#: name -> numba's DUFunc or cfunc, kept alive: it owns the compiled loop its ufunc calls.
_COMPILED: dict[str, Any] = {}


# -- the ufunc loops, compiled once into numba's cache ------------------------------------------
def _load_typed(typingctx: Any, base: Any, offset: Any) -> Any:
    """The float64 at byte `offset` of the address `base` (a ufunc loop's strided element)."""
    signature = types.float64(types.voidptr, types.intp)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        address = builder.gep(args[0], [args[1]])
        return builder.load(builder.bitcast(address, ir.DoubleType().as_pointer()), align=1)

    return signature, codegen


def _store_typed(typingctx: Any, base: Any, offset: Any, value: Any) -> Any:
    """Write the float64 `value` at byte `offset` of the address `base`."""
    signature = types.void(types.voidptr, types.intp, types.float64)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        address = builder.gep(args[0], [args[1]])
        builder.store(args[2], builder.bitcast(address, ir.DoubleType().as_pointer()), align=1)
        return context.get_dummy_value()

    return signature, codegen


_load: Any = intrinsic(_load_typed)
_store: Any = intrinsic(_store_typed)
#: numpy's loop: (args, dimensions, steps, data); args and steps in bytes, inputs then output.
_POINTER: Any = types.CPointer
_LOOP = types.void(_POINTER(types.voidptr), _POINTER(types.intp), _POINTER(types.intp),
                   types.voidptr)
_exp_element, _log_element, _log1p_element = njit(_exp), njit(_log), njit(_log1p)
_expm1_element, _log10_element, _tanh_element = njit(_expm1), njit(_log10), njit(_tanh)
_power_element = njit(_power)


def _exp_loop(args, dims, steps, data):  # type: ignore[no-untyped-def]
    """`_exp` of every element (numpy's 1-in 1-out loop)."""
    source, target, step_in, step_out = args[0], args[1], steps[0], steps[1]
    for i in range(dims[0]):
        _store(target, i * step_out, _exp_element(_load(source, i * step_in)))


def _log_loop(args, dims, steps, data):  # type: ignore[no-untyped-def]
    """`_log` of every element."""
    source, target, step_in, step_out = args[0], args[1], steps[0], steps[1]
    for i in range(dims[0]):
        _store(target, i * step_out, _log_element(_load(source, i * step_in)))


def _log1p_loop(args, dims, steps, data):  # type: ignore[no-untyped-def]
    """`_log1p` of every element."""
    source, target, step_in, step_out = args[0], args[1], steps[0], steps[1]
    for i in range(dims[0]):
        _store(target, i * step_out, _log1p_element(_load(source, i * step_in)))


def _expm1_loop(args, dims, steps, data):  # type: ignore[no-untyped-def]
    """`_expm1` of every element."""
    source, target, step_in, step_out = args[0], args[1], steps[0], steps[1]
    for i in range(dims[0]):
        _store(target, i * step_out, _expm1_element(_load(source, i * step_in)))


def _log10_loop(args, dims, steps, data):  # type: ignore[no-untyped-def]
    """`_log10` of every element."""
    source, target, step_in, step_out = args[0], args[1], steps[0], steps[1]
    for i in range(dims[0]):
        _store(target, i * step_out, _log10_element(_load(source, i * step_in)))


def _tanh_loop(args, dims, steps, data):  # type: ignore[no-untyped-def]
    """`_tanh` of every element."""
    source, target, step_in, step_out = args[0], args[1], steps[0], steps[1]
    for i in range(dims[0]):
        _store(target, i * step_out, _tanh_element(_load(source, i * step_in)))


def _power_loop(args, dims, steps, data):  # type: ignore[no-untyped-def]
    """`_power` of every pair of elements (numpy's 2-in 1-out loop)."""
    base, exponent, target = args[0], args[1], args[2]
    step_base, step_exponent, step_out = steps[0], steps[1], steps[2]
    for i in range(dims[0]):
        _store(target, i * step_out, _power_element(_load(base, i * step_base),
                                                    _load(exponent, i * step_exponent)))


#: name -> the loop `_cached_ufunc` compiles (or loads) for it.
_LOOPS = {"exp": _exp_loop, "log": _log_loop, "log1p": _log1p_loop, "expm1": _expm1_loop,
          "log10": _log10_loop, "tanh": _tanh_loop, "power": _power_loop}
#: Values a freshly built ufunc must answer as its kernel does before it is used.
_PROBES = (0.5, 1.5, 3.0)
_FLOAT64 = 12  # numpy's type number of float64 (NPY_DOUBLE)


def _cached_ufunc(name: str, kernel: Any, inputs: int) -> Any:
    """The numpy ufunc of `kernel` over `_LOOPS[name]`, a cfunc in numba's cache; None
    where it cannot be built here (numba's private `fromfunc` changed, no cache, ...) or
    does not answer its probes as the kernel does (then `vectorize` builds it)."""
    try:
        _internal: Any = importlib.import_module("numba.np.ufunc._internal")
        loop = cfunc(_LOOP, cache=True)(_LOOPS[name])
        ufunc = _internal.fromfunc(kernel.__name__, kernel.__doc__, [loop.address],
                                   [[_FLOAT64] * (inputs + 1)], inputs, 1, [None], [loop],
                                   _internal.PyUFunc_None)
        for probe in _PROBES:
            if float(ufunc(*[probe] * inputs)) != kernel(*[probe] * inputs):
                return None
    except Exception:  # noqa: BLE001 - any failure: the vectorize form below
        return None
    _COMPILED[name] = loop
    return ufunc


def __getattr__(name: str) -> Any:
    """Build the ufunc `name` on first use and keep it as a module attribute.

    The attribute is a plain numpy ufunc with one float64 loop: the cached cfunc's
    (`_cached_ufunc`), else the one under numba's DUFunc (`.ufunc`, the DUFunc frozen to
    its signatures, so it never adds another), without the DUFunc's Python-level
    `__call__`, ~0.7 us a call that added up to a few % of a backtest on 20-coin arrays."""
    if name not in _KERNELS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    kernel, signatures = _KERNELS[name]
    ufunc = _cached_ufunc(name, kernel, len(signatures[0].split(",")))
    if ufunc is None:
        ufunc = vectorized(name)
    globals()[name] = ufunc
    return ufunc


def vectorized(name: str) -> Any:
    """The ufunc `name` as `numba.vectorize` builds it (its loop built in this process):
    the fallback of `__getattr__`, and the definition its cached loop is held to."""
    kernel, signatures = _KERNELS[name]
    compiled = vectorize(signatures, cache=True)(kernel)  # type: ignore[no-untyped-call]  # numba is untyped
    _COMPILED.setdefault(name, compiled)
    ufunc = getattr(compiled, "ufunc", compiled)  # a numba that builds the ufunc itself
    ufunc.__doc__ = kernel.__doc__
    return ufunc
