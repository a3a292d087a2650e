"""numpy's run-time CPU dispatch, named so tests and `.ci/run` can switch it off.

numpy compiles its float kernels for several instruction-set groups (AVX2 as `X86_V3`,
AVX-512 as `X86_V4`, `AVX512_ICL`, ... in numpy 2.x) and picks one at import by CPU feature.
`NPY_DISABLE_CPU_FEATURES` set to these names makes it use the baseline kernels instead.
Running the same computation with and without it shows whether a result depends on the
machine (ADR-045).

`python -m tests.cpu_dispatch` prints the names, space-separated, for the shell.
"""

from __future__ import annotations

import importlib


def _umath():  # type: ignore[no-untyped-def]
    for module in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            return importlib.import_module(module)
        except ImportError:
            continue
    raise RuntimeError("numpy exposes no _multiarray_umath: cannot name its dispatch groups")


def dispatched_groups() -> list[str]:
    """The CPU-feature groups numpy can dispatch to beyond its baseline, on any CPU."""
    return list(_umath().__cpu_dispatch__)


def active_groups() -> list[str]:
    """The dispatch groups numpy uses in this process (found on the CPU and not disabled)."""
    features = _umath().__cpu_features__
    return [name for name in dispatched_groups() if features.get(name)]


if __name__ == "__main__":
    print(" ".join(dispatched_groups()))
