"""`model.libm`: numpy-shaped ufuncs whose every element is the C library's own result, so a
value reaching a decision or the ledger has the same bits on every CPU (ADR-045)."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

from model import libm
from tests.conftest import REPO_ROOT
from tests.import_graph import LAYERS

EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, 5e-324, 1e308, -1e308, 709.78, 710.0, -745.2,
         math.inf, -math.inf, math.nan]


def _math_reference(function: str, value: float) -> float:
    """Python's `math` element by element (the C library), with numpy's answers where math
    raises instead of returning NaN or an infinity."""
    try:
        return float(getattr(math, function)(value))
    except OverflowError:
        return math.inf
    except ValueError:  # outside the domain: log(-1), log(0)
        if function in ("log", "log10") and value == 0:
            return -math.inf
        if function == "log1p" and value == -1:
            return -math.inf
        return math.nan


@pytest.mark.parametrize("function", ["exp", "log", "log1p", "expm1", "log10", "tanh"])
def test_each_element_is_the_c_librarys_result(function: str) -> None:
    values = np.concatenate([np.random.default_rng(0).normal(0, 30, 20_000), EDGES])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # inf, nan: edges
        got = getattr(libm, function)(values)
    expected = np.array([_math_reference(function, float(v)) for v in values])
    assert got.dtype == np.float64
    assert np.array_equal(got, expected, equal_nan=True)


def test_power_is_the_c_librarys_pow_and_broadcasts() -> None:
    rng = np.random.default_rng(1)
    base, exponent = rng.uniform(0, 50, (300, 1)), rng.normal(0, 4, 7)
    got = libm.power(base, exponent)
    assert got.shape == (300, 7)
    expected = np.array([[math.pow(b, e) for e in exponent] for b in base[:, 0]])
    assert np.array_equal(got, expected)


def test_scalars_and_out_behave_like_numpy_ufuncs_in_float64() -> None:
    assert isinstance(libm.log(2.0), np.floating) and libm.log(2.0) == math.log(2.0)
    assert libm.exp(np.ones(3, np.float32)).dtype == np.float64  # one loop, always float64
    out = np.empty(4)
    libm.exp(np.arange(4.0), out=out)
    assert out.tolist() == [math.exp(v) for v in range(4)]


# -- the guard: no CPU-dispatched numpy math where a value can reach a decision ---------------
PRODUCT_PACKAGES = tuple(sorted(LAYERS))  # every product package, as the layering knows them
#: numpy functions whose float results depend on the CPU numpy dispatches to (SIMD/SVML
#: transcendental kernels) or on the BLAS library's kernel and thread count.
DISPATCHED = {"exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "power", "float_power",
              "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh",
              "tanh", "arcsinh", "arccosh", "arctanh", "cbrt", "dot", "matmul", "einsum",
              "inner", "vdot", "tensordot", "cov", "corrcoef", "convolve", "correlate", "linalg"}


def _numba_compiled(function: ast.FunctionDef) -> bool:
    """Compiled by numba (math there calls the C library, not numpy's kernels)."""
    return any("jit" in ast.unparse(decorator) for decorator in function.decorator_list)


def _dispatched_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    compiled = {id(node) for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef)
                and _numba_compiled(fn) for node in ast.walk(fn)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in compiled:
            continue
        if isinstance(node.value, ast.Name) and node.value.id == "np" and node.attr in DISPATCHED:
            found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} np.{node.attr}")
    return found


@pytest.mark.slow
def test_product_code_uses_libm_not_numpys_dispatched_math() -> None:
    """A feature, price or statistic computed with `np.log` could differ in its last bits
    between an AVX2 and an AVX-512 machine; `model.libm` gives one answer everywhere."""
    offenders = [hit for package in PRODUCT_PACKAGES
                 for path in sorted((REPO_ROOT / package).rglob("*.py"))
                 for hit in _dispatched_calls(path)]
    assert offenders == [], "use model.libm (or plain arithmetic) instead:\n" + "\n".join(offenders)


# -- the cached loops: the same ufunc as numba.vectorize builds ----------------------------------
def _operands(rng: np.random.Generator) -> list[np.ndarray]:
    """Contiguous, strided, reversed, 2-D, float32 and integer inputs, edges included."""
    values = np.concatenate([rng.normal(0, 30, 5_000), rng.uniform(-2, 2, 5_000), EDGES])
    return [values, values[::3], values[::-1], values[:9_000].reshape(90, 100).T,
            values.astype(np.float32), np.arange(-50, 50)]


@pytest.mark.parametrize("function", ["exp", "log", "log1p", "expm1", "log10", "tanh"])
def test_the_cached_loop_gives_the_bits_numba_vectorize_gives(function: str) -> None:
    """Each ufunc is built over a cfunc from numba's cache (a few ms, not the ~40 ms of
    building `vectorize`'s loop in every process): the same float64 loop of the same
    kernel, so the same bits on every input, scalars and `out=` too."""
    cached, definition = getattr(libm, function), libm.vectorized(function)
    assert type(libm._COMPILED[function]).__name__ == "CFunc"  # not the fallback
    assert cached.types == definition.types == ["d->d"]
    with np.errstate(all="ignore"):
        for values in _operands(np.random.default_rng(2)):
            got, expected = cached(values), definition(values)
            assert got.dtype == np.float64 and got.shape == expected.shape
            assert got.tobytes() == expected.tobytes()
        out = np.empty(3)
        cached(np.array([0.25, 4.0, 9.0]), out=out)
        assert out.tobytes() == definition(np.array([0.25, 4.0, 9.0])).tobytes()
        for scalar in EDGES:
            assert np.float64(cached(scalar)).tobytes() == np.float64(definition(scalar)).tobytes()


def test_the_cached_power_gives_the_bits_numba_vectorize_gives_and_broadcasts() -> None:
    cached, definition = libm.power, libm.vectorized("power")
    assert type(libm._COMPILED["power"]).__name__ == "CFunc"
    rng = np.random.default_rng(3)
    base = np.concatenate([rng.uniform(0, 50, 400), EDGES])
    exponent = np.concatenate([rng.normal(0, 4, 7), [0.0, -0.0, 0.5, math.inf, math.nan]])
    with np.errstate(all="ignore"):
        for b, e in ((base[:, None], exponent), (base[::-2, None], exponent[::-1]),
                     (base, 2.5), (3.0, exponent)):
            got, expected = cached(b, e), definition(b, e)
            assert got.shape == expected.shape and got.tobytes() == expected.tobytes()


def test_a_loop_that_cannot_be_built_or_answers_otherwise_is_not_used(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the cached form cannot be built, or does not answer its probes as the kernel
    does, `_cached_ufunc` gives None and the ufunc is numba.vectorize's, as before."""
    assert libm._cached_ufunc("tanh", libm._tanh, 1) is not None
    assert libm._cached_ufunc("tanh", lambda x: math.tanh(x) + 1.0, 1) is None  # probes
    monkeypatch.setitem(libm._LOOPS, "tanh", None)  # nothing to compile
    assert libm._cached_ufunc("tanh", libm._tanh, 1) is None
