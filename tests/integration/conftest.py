"""Integration-test plumbing: the crash and chaos tests' counts in pytest's terminal summary,
and a local Ray for the tests that hold Ray runs to in-process ones.

Those tests run for a minute or more and their point is a handful of numbers (kills,
restarts, orders, fills, mismatches); the summary shows them whether or not `-s` is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

_COUNTS = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_COUNTS] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(_COUNTS, [])
    if lines:
        terminalreporter.section("crash and chaos counts")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def counts_summary(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """`counts_summary(line)`: show `line` in the terminal summary (and print it)."""
    def add(line: str) -> None:
        request.config.stash.setdefault(_COUNTS, []).append(line)
        print(line)
    return add


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """A local Ray of two CPUs for the module's tests, shut down after them."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
