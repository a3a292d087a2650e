"""The RL env's compiled step is recompiled whenever the code it inlines changes.

numba's on-disk cache judges a compiled function fresh by the stamp (mtime, size) of the
file that defines it, not of the files it calls into: rl/env_kernel.py inlines the fill
model's `match_order` (model/fill_kernel.py) and the account rules (rl/account.py), so a
change there alone would leave a cached env step filling by the old rules, and the RL env
would disagree with the backtester it must match (ADR-039)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rl import env_kernel

ROOT = Path(__file__).resolve().parents[2]
INLINED = ("model/fill_kernel.py", "rl/account.py")


def inlined_sources_sha256() -> str:
    """The stamp env_kernel must carry: sha256 of the inlined files, in INLINED's order."""
    digest = hashlib.sha256()
    for name in INLINED:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:16]


def test_env_kernel_carries_the_stamp_of_the_code_it_inlines() -> None:
    expected = inlined_sources_sha256()
    assert expected == env_kernel.INLINED_SOURCES_SHA256, (
        f"model/fill_kernel.py or rl/account.py changed: set INLINED_SOURCES_SHA256 = "
        f'"{expected}" in rl/env_kernel.py, so numba recompiles the env step')


PORTFOLIO_INLINED = ("model/fill_kernel.py", "rl/account.py", "rl/env_kernel.py",
                     "rl/portfolio_risk.py")


def test_portfolio_kernel_carries_the_stamp_of_the_code_it_inlines() -> None:
    from rl import portfolio_kernel

    digest = hashlib.sha256()
    for name in PORTFOLIO_INLINED:
        digest.update((ROOT / name).read_bytes())
    expected = digest.hexdigest()[:16]
    assert expected == portfolio_kernel.INLINED_SOURCES_SHA256, (
        f"{', '.join(PORTFOLIO_INLINED)} changed: set INLINED_SOURCES_SHA256 = "
        f'"{expected}" in rl/portfolio_kernel.py, so numba recompiles the portfolio step')


#: The compiled SMA lane's modules and the files each compiles in (its callees' modules).
LANE_INLINED = {
    "trading/lane_book.py": ("model/fill_kernel.py", "trading/fast_match_kernel.py"),
    "trading/lane_gate.py": ("risk/var_tail_kernel.py", "trading/lane_book.py"),
    "trading/sma_lane_kernel.py": ("model/fill_kernel.py", "trading/fast_match_kernel.py",
                                   "risk/var_tail_kernel.py", "trading/lane_book.py",
                                   "trading/lane_gate.py"),
}


@pytest.mark.parametrize("module", sorted(LANE_INLINED))
def test_the_sma_lane_carries_the_stamp_of_the_code_it_inlines(module: str) -> None:
    digest = hashlib.sha256()
    for name in LANE_INLINED[module]:
        digest.update((ROOT / name).read_bytes())
    expected = digest.hexdigest()[:16]
    line = f'INLINED_SOURCES_SHA256 = "{expected}"'
    assert line in (ROOT / module).read_text(), (
        f"{', '.join(LANE_INLINED[module])} changed: set {line} in {module}, so numba "
        "recompiles what it cached of them")
