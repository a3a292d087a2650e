"""`[sim] params` (and `sim-server` / `sim generate --params`) names a shipped parameter set, a
file, or "" for the old generator; the default is the set fitted on Bittrex 2017-12; a bad
value is refused naming the option and the known names."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.config import ConfigError, SimConfig, load_config
from exchange.sim.generator import GeneratorSource
from exchange.sim.market_params import MarketParams, MarketParamsError
from exchange.sim.shipped_params import DEFAULT_PARAMS, load_params, shipped_file, shipped_names
from exchange.sim.source import open_source
from tests.market_params_example import example_params

START_MS = 1_700_006_400_000


def test_the_default_market_is_the_shipped_bittrex_2017_12_fit() -> None:
    assert DEFAULT_PARAMS == "bittrex_2017-12"
    assert SimConfig().params == DEFAULT_PARAMS
    assert {"bittrex_2017-11", "bittrex_2017-12"} <= set(shipped_names())


def test_a_shipped_name_loads_the_package_file() -> None:
    packaged = resources.files("exchange.sim") / "params" / "bittrex_2017-12.json"
    with resources.as_file(packaged) as path:
        assert load_params("bittrex_2017-12") == MarketParams.load(path)
    assert "2017-12" in MarketParams.load(path).source  # the command that made it


def test_a_path_loads_that_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    example_params(coins=2).save(path)
    loaded = load_params(str(path))
    assert loaded == MarketParams.load(path) and loaded is not None and loaded.coins == 2


def test_empty_means_the_old_generator_bit_for_bit() -> None:
    assert load_params("") is None
    old = open_source(SimConfig(coins=3, history_days=0.1, params=""), start_ms=START_MS)
    direct = GeneratorSource(seed=7, coins=3, history_minutes=144, start_ms=START_MS)
    assert np.array_equal(old.store.column("close", slice(0, 144)),
                          direct.store.column("close", slice(0, 144)))


def test_the_default_config_opens_the_calibrated_market() -> None:
    default = open_source(SimConfig(coins=3, history_days=0.1), start_ms=START_MS)
    calibrated = GeneratorSource(seed=7, coins=3, history_minutes=144, start_ms=START_MS,
                                 params=load_params(DEFAULT_PARAMS))
    assert np.array_equal(default.store.column("close", slice(0, 144)),
                          calibrated.store.column("close", slice(0, 144)))
    assert default.spread_bps().tolist() == calibrated.spread_bps().tolist()


def test_an_unknown_name_in_the_config_names_the_key_and_the_known_sets(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[sim]\nparams = "bittrex_2099-01"\n')
    with pytest.raises(ConfigError) as error:
        load_config(config, environ={})
    message = str(error.value)
    assert "sim.params" in message and "bittrex_2099-01" in message
    assert "bittrex_2017-11" in message and "bittrex_2017-12" in message and '""' in message


def test_a_missing_file_says_not_found_and_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(MarketParamsError, match=r"--params .*not found.*entasis sim calibrate"):
        load_params(str(tmp_path / "none.json"), "--params")


def test_a_bad_file_names_the_option_the_file_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    example_params(coins=1).save(bad)
    values = json.loads(bad.read_text())
    values["half_spread_bps"] = [-1.0]
    bad.write_text(json.dumps(values))
    with pytest.raises(MarketParamsError, match=r"\[sim\] params: .*bad.json.*half_spread_bps"):
        load_params(str(bad))


def test_sim_server_refuses_an_unknown_name_before_it_starts() -> None:
    result = CliRunner().invoke(app, ["sim-server", "--params", "bittrex_2099-01"])
    assert result.exit_code == 2
    assert "--params 'bittrex_2099-01'" in result.output and "bittrex_2017-12" in result.output


def test_sim_generate_takes_a_shipped_name_and_refuses_empty(tmp_path: Path) -> None:
    out = tmp_path / "market"
    result = CliRunner().invoke(app, ["sim", "generate", "--params", "bittrex_2017-12",
                                      "--coins", "2", "--minutes", "30", "--out", str(out),
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["files"]) == 2
    empty = CliRunner().invoke(app, ["sim", "generate", "--params", "", "--out", str(out)])
    assert empty.exit_code == 2 and "calibrated model" in empty.output


def test_a_shipped_file_is_found_by_name_and_an_unknown_name_lists_the_known() -> None:
    with shipped_file(DEFAULT_PARAMS) as path:
        assert MarketParams.load(path) == load_params(DEFAULT_PARAMS)
    with pytest.raises(MarketParamsError, match=r"known: .*bittrex_2017-12"), \
            shipped_file("nasdaq_1999"):
        pass
