"""What an operator reads from the CLI: the real `entasis` commands
against the command layer served on 127.0.0.1, with stdout piped (not a terminal).

Numbers are formatted (no raw Decimals, no exponents, no `None`, no dicts), tables keep
every number whole when piped, a fresh ledger says what is empty in words, sim timestamps
are marked `(sim)`, and with `--json` an error is one JSON object on stdout.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.ops.commands import CommandLayer
from bot.ops.control import ControlServer
from tests.ops_runtime import OpsRuntime, make_runtime

HUMAN_COMMANDS = (["status"], ["balance"], ["positions"], ["trades"], ["profit"], ["winrate"],
                  ["performance"], ["regime"])
EXPONENT = re.compile(r"\d[eE][-+]?\d")  # 0E-16, 1e-05 (order ids like E-00000006 do not match)
RAW_DECIMAL = re.compile(r"\d\.\d{9,}")  # more digits than any quote or lot precision


def cli(runtime: OpsRuntime, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--config", str(runtime.config_path)])


def answers(runtime: OpsRuntime, *commands: list[str]) -> list[Any]:
    """Each CLI command's result, run in a worker thread while the loop serves the layer."""
    async def scenario() -> list[Any]:
        server = ControlServer(runtime.config.data_dir, CommandLayer(runtime), "127.0.0.1", 0)
        await server.start()
        try:
            return [await asyncio.to_thread(cli, runtime, *c) for c in commands]
        finally:
            await server.stop()

    return asyncio.run(scenario())


@pytest.fixture(scope="module")
def traded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsRuntime]:
    runtime = make_runtime(tmp_path_factory.mktemp("traded"))
    yield runtime
    runtime.close()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[OpsRuntime]:
    runtime = make_runtime(tmp_path, minutes=0)  # account opened, no fills, no equity yet
    yield runtime
    runtime.close()


@pytest.mark.slow
def test_piped_human_output_shows_formatted_numbers_only(traded: OpsRuntime) -> None:
    for command, done in zip(HUMAN_COMMANDS, answers(traded, *HUMAN_COMMANDS), strict=True):
        assert done.exit_code == 0, done.output
        text = done.stdout
        assert not EXPONENT.search(text), (command, text)
        assert not RAW_DECIMAL.search(text), (command, text)
        assert "None" not in text and "{" not in text and "…" not in text, (command, text)
    balance = answers(traded, ["balance"])[0].stdout
    assert re.search(r"equity 9,9\d\d\.\d\d USDT \(start 10,000\.00\)", balance), balance


def test_piped_tables_keep_each_row_on_one_line(traded: OpsRuntime) -> None:
    as_json, human = answers(traded, ["performance", "--json"], ["performance"])
    coins = json.loads(as_json.stdout)["coins"]
    assert coins, "the scripted trades leave per-coin rows"
    lines = human.stdout.splitlines()
    for coin in coins:  # nine columns: at rich's 80-column default these wrapped
        [row] = [line for line in lines if coin["symbol"] in line]
        assert (f"{coin['buys']}" in row and "%" in row) or coin["win_rate"] is None, row


def test_sim_timestamps_are_marked_and_status_names_the_clock(traded: OpsRuntime) -> None:
    traded.sim = object()  # type: ignore[attr-defined]  # as the daemon holds its simulator
    try:
        status, trades, profit = answers(traded, ["status", "--json"], ["trades"], ["profit"])
    finally:
        del traded.sim  # type: ignore[attr-defined]
    assert json.loads(status.stdout)["clock"] == "sim"
    fill_rows = [line for line in trades.stdout.splitlines() if "USDT" in line]
    assert fill_rows and all("(sim)" in line for line in fill_rows), trades.stdout
    assert "(sim)" in profit.stdout
    wall_status, wall_trades = answers(traded, ["status", "--json"], ["trades"])
    assert json.loads(wall_status.stdout)["clock"] == "wall"
    assert "(sim)" not in wall_trades.stdout


def test_a_fresh_ledger_says_what_is_empty_in_words(fresh: OpsRuntime) -> None:
    expected = {"profit": "no equity recorded yet", "trades": "no trades yet",
                "positions": "no open positions", "winrate": "no trades yet",
                "performance": "no trades yet", "status": "no trades yet"}
    results = answers(fresh, *([name] for name in expected))
    for (name, words), done in zip(expected.items(), results, strict=True):
        assert done.exit_code == 0, done.output
        assert words in done.stdout and "None" not in done.stdout, (name, done.stdout)
    assert "no open orders" in results[2].stdout


def test_json_errors_are_one_object_on_stdout(fresh: OpsRuntime) -> None:
    as_json = cli(fresh, "balance", "--json")  # no daemon serves this data dir
    assert as_json.exit_code == 1
    answer = json.loads(as_json.stdout)
    assert answer["ok"] is False and "entasis run" in answer["error"] and answer["exit_code"] == 1
    human = cli(fresh, "balance")
    assert human.exit_code == 1 and human.stdout == "" and "entasis run" in human.stderr


def test_a_bad_config_with_json_is_a_json_error_too(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[trading]\nstarting_balance = -5\n")
    done = CliRunner().invoke(app, ["positions", "--json", "--config",
                                    str(tmp_path / "config.toml")])
    assert done.exit_code == 2 and json.loads(done.stdout)["exit_code"] == 2


def test_models_on_a_fresh_install_is_an_empty_list(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(f'[app]\ndata_dir = "{tmp_path / "var"}"\n')
    config = ["--config", str(tmp_path / "config.toml")]
    as_json = CliRunner().invoke(app, ["models", "--json", *config])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == {"models": []}
    human = CliRunner().invoke(app, ["models", *config])
    assert human.exit_code == 0 and "no models yet — run `entasis selfplay`" in human.stdout


def test_positions_show_prices_to_the_tick_and_amounts_to_the_lot(traded: OpsRuntime) -> None:
    as_json, human = answers(traded, ["positions", "--json"], ["positions"])
    answer = json.loads(as_json.stdout)
    assert answer["steps"]["CCCUSDT"] == {"tick": "0.01", "lot": "0.001"}
    [held] = [p for p in answer["positions"] if p["symbol"] == "CCCUSDT"]
    [row] = [line for line in human.stdout.splitlines() if "CCCUSDT" in line]
    last_to_tick = f"{float(held['last']):.2f}"
    assert last_to_tick in row and (held["last"] == last_to_tick or held["last"] not in row), row
