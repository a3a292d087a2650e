"""`entasis` command line. Importing this package registers every command group on `app`.

`common` holds what the groups share (the typer app, consoles, options, `fail`); `main` the
daemon's own commands (run, status, backtest, config check, sim-server); each other module
one group (models, service, forecast, ops, download, anomalies, ledger, walkforward, sim,
league).
"""

from bot.cli import (
    anomalies,
    download,
    forecast,
    league,
    ledger,
    main,
    models,
    ops,
    service,
    sim,
    sim_fills,
    sim_model,
    walkforward,
)
from bot.cli.common import app

__all__ = ["anomalies", "app", "download", "forecast", "league", "ledger", "main", "models", "ops", "service",
           "sim", "sim_fills", "sim_model", "walkforward"]
