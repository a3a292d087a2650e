"""Starting the daemon loads only what it uses: pandas and scipy.signal stay out of its process.

Each costs the paper daemon tens of MB of RSS (pandas ~30, scipy.signal ~66) against a 600 MB
budget at 500 coins (issue 15); the research commands still import both. Checked in a fresh
interpreter, since this test process has long imported everything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.import_graph import ROOT

_PROBE = """
import json, sys
import numpy as np
import bot.app.daemon, exchange.sim.server
from exchange.sim.market_model import MarketModel
from exchange.sim.shipped_params import load_params
import strategies.forecast.indicators
params = load_params("bittrex_2017-12")
model = MarketModel(params, seed=1, tick=np.full(3, 1e-8), lot=np.full(3, 1e-3),
                    price=np.full(3, 0.01), quote_volume_per_min=np.full(3, 1.0), start_ms=0)
model.generate(120)
print(json.dumps({name: name in sys.modules for name in ("pandas", "scipy.signal")}))
"""


def _loaded_after_daemon_imports() -> dict[str, bool]:
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=True)
    loaded: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_the_daemon_and_its_simulator_run_without_pandas_or_scipy_signal() -> None:
    assert _loaded_after_daemon_imports() == {"pandas": False, "scipy.signal": False}


def test_the_ledger_still_opens_with_sqlite_utils_when_pandas_is_loaded_first(
        tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import pandas, sys\nfrom state.sqlite import Database\n"
         f"db = Database({str(tmp_path / 'x.sqlite')!r})\n"
         "db['t'].insert({'a': 1, 'b': 'x'})\n"
         "import sqlite_utils.db as d\nprint(d.pd is sys.modules['pandas'], db['t'].count)"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.split() == ["True", "1"]
