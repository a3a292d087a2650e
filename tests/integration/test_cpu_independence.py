"""Same data, config and seed give the same bits on any CPU (ADR-045).

`tests/determinism_probe.py` digests the fill model, the simulator, features and ranking,
the RL environment, the promotion statistics and two replay backtests' ledgers. It runs
here twice in fresh processes: as the machine dispatches numpy's kernels (AVX2, AVX-512 on
a machine that has it), and with every dispatch group disabled. Equal digests mean no
result depends on which SIMD kernels numpy picked; on an AVX-512 machine this is the
AVX-512-on versus AVX-512-off comparison.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.cpu_dispatch import dispatched_groups


def probe(disabled_groups: list[str]) -> dict[str, str]:
    """The probe's digests in a fresh process with these numpy dispatch groups disabled."""
    env = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
    if disabled_groups:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(disabled_groups)
    done = subprocess.run([sys.executable, "-m", "tests.determinism_probe"], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_every_digest_is_the_same_with_numpys_simd_dispatch_on_and_off() -> None:
    dispatched = probe([])
    baseline = probe(dispatched_groups())
    assert baseline.pop("numpy_dispatch") == "baseline"  # the switch really took effect
    machine = dispatched.pop("numpy_dispatch")
    differing = sorted(key for key in dispatched if dispatched[key] != baseline[key])
    assert differing == [], f"depends on numpy's {machine} kernels: {differing}"
    assert set(dispatched) == set(baseline)
