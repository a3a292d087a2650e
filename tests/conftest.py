"""Shared test fixtures.

Real market data lives in ../shared/data beside the repository (or wherever
ENTASIS_SHARED_DATA points). The project must never require it: tests that read it take the
`shared_data` fixture and are skipped, with the reason, when it is absent.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    configured = os.environ.get("ENTASIS_SHARED_DATA")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


TIER_BY_DIRECTORY = {"unit": "unit", "contract": "contract",
                     "scenarios": "integration", "integration": "integration"}
TIERS = frozenset(TIER_BY_DIRECTORY.values())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every test its tier marker from its directory, so `-m unit`, `-m "not integration"`
    and the fast lane `-m "not slow"` select by what a test is without anyone remembering to
    mark it. A tier marked on the test itself wins: a test in tests/unit that starts a
    subprocess carries `@pytest.mark.integration` and is not also called a unit test."""
    tests_dir = Path(__file__).parent
    for item in items:
        if any(marker.name in TIERS for marker in item.iter_markers()):
            continue
        try:
            directory = item.path.relative_to(tests_dir).parts[0]
        except ValueError:  # collected from outside tests/: no tier to infer
            continue
        tier = TIER_BY_DIRECTORY.get(directory)
        if tier is not None:
            item.add_marker(tier)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; skips the test with a clear reason when it is absent."""
    path = _shared_data_dir()
    if not (path / "README.md").is_file():
        pytest.skip(
            f"real exchange data not found at {path}; set ENTASIS_SHARED_DATA to run this test"
        )
    return path


@pytest.fixture
def one_torch_thread():
    """Tiny networks run fastest on one thread; two threads on a shared 2-core box thrash.
    Imported lazily so tests that never touch torch do not pay for importing it."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels() -> None:
    """Compile the fill model and the RL env step (numba) once, before any test starts a
    daemon in a subprocess: those then load the compiled code from numba's on-disk cache
    instead of each compiling it against a start-up deadline (ADR-039)."""
    from rl.warmup import compile_kernels

    compile_kernels()


@pytest.fixture(autouse=True)
def root_log_level_restored() -> Iterator[None]:
    """A test that runs the CLI in-process configures logging for the whole process (the root
    logger at INFO); put the level back so later tests' captured records do not depend on
    which tests ran before them."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)
