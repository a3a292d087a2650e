"""`python -m bench [NAME ...]`: run benchmarks by name (all of them without a name).

A benchmark is a module `bench/<name>.py` with `run() -> dict`: it prints its own readable
table (rich, on stderr) and returns its figures. This harness prints, as the last line of
stdout, one JSON object `{name: figures, ...}` so scripts and CI can parse the result.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

from bench.common import console

_NOT_BENCHMARKS = {"__main__", "common"}


def available() -> list[str]:
    """Names of the benchmark modules in this package, sorted."""
    here = Path(__file__).resolve().parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)])
                  if m.name not in _NOT_BENCHMARKS and not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    """Run the named benchmarks (all when none) and print their figures as JSON."""
    names = argv or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        console.print(f"unknown benchmark(s) {unknown}; available: {available()}")
        return 2
    results: dict[str, dict] = {}
    for name in names:
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        results[name] = module.run()
        console.print(f"[dim]{name}: {time.perf_counter() - started:.1f} s[/dim]")
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
