"""`entasis sim`: the simulated market measured against real bars.

- `entasis sim report --data DIR [--data DIR2] [--sim DIR | --seed S] [--png PATH] [--json]`:
  the gap between simulated and real 1m bars, statistic by statistic, beside the distance
  between two real sets (or the two halves of one) as the yardstick for "close".

Kept apart from bot/cli/main.py so the daemon's commands do not import scipy or matplotlib.
"""

from __future__ import annotations

import typer

from bot.cli.common import app

sim_app = typer.Typer(no_args_is_help=True, help=__doc__)
app.add_typer(sim_app, name="sim")
