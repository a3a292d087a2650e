"""MarketParams: a JSON file that round-trips and refuses what would make a broken market."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from exchange.sim.market_params import SCHEMA_VERSION, MarketParams, MarketParamsError
from tests.market_params_example import example_params


def test_params_round_trip_through_json_unchanged(tmp_path: Path) -> None:
    params = example_params(coins=3)
    path = tmp_path / "params.json"
    params.save(path)
    assert MarketParams.load(path) == params
    assert path.stat().st_size < 8_000  # a small file
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION


def _write(tmp_path: Path, **edits: object) -> Path:
    values = example_params(coins=2).as_dict()
    for name, value in edits.items():
        if value is None:
            del values[name]
        else:
            values[name] = value
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(values))  # NaN is written as NaN, which json reads back
    return path


@pytest.mark.parametrize(("edits", "says"), [
    ({"vol_per_min": None}, "field vol_per_min is missing"),
    ({"half_spread_bps": [15.0, -1.0]}, "field half_spread_bps[1] is negative"),
    ({"tail_df": [5.0, math.nan]}, "field tail_df[1] is nan"),
    ({"beta": [1.0]}, "field beta must be a list of 2 numbers"),
    ({"factor_lag_min": "slow"}, "field factor_lag_min must be a number"),
    ({"hour_volume_profile": [1.0] * 23}, "field hour_volume_profile must be a list of 24"),
    ({"schema_version": 99}, "schema_version 99"),
    ({"schema_version": 2}, "version 3 added the market-wide volatility state"),
    ({"market_vol_var": -0.1}, "field market_vol_var is negative"),
    ({"market_vol_persistence": 1.0}, "field market_vol_persistence = 1.0 is outside"),
])
def test_a_bad_file_is_refused_naming_the_file_and_the_field(
        tmp_path: Path, edits: dict[str, object], says: str) -> None:
    path = _write(tmp_path, **edits)
    with pytest.raises(MarketParamsError) as caught:
        MarketParams.load(path)
    assert str(path) in str(caught.value)
    assert says in str(caught.value)


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(MarketParamsError, match="entasis sim calibrate"):
        MarketParams.load(tmp_path / "nope.json")


def test_save_replaces_the_file_whole_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "params.json"
    path.write_text("old")
    example_params().save(path)
    assert MarketParams.load(path) == example_params()
    assert [p.name for p in tmp_path.iterdir()] == ["params.json"]


def test_the_shipped_bittrex_calibration_loads_and_is_small() -> None:
    path = Path(__file__).resolve().parents[2] / "exchange/sim/params/bittrex_2017-11.json"
    params = MarketParams.load(path)
    assert params.coins == 20 and "freqtrade_bittrex_2017-11" in params.source
    assert path.stat().st_size < 8_000


def test_the_shipped_bittrex_2017_12_calibration_loads_with_a_pricing_error() -> None:
    path = Path(__file__).resolve().parents[2] / "exchange/sim/params/bittrex_2017-12.json"
    params = MarketParams.load(path)
    assert params.coins == 10 and "freqtrade_bittrex_2017-12" in params.source
    assert params.transient_vol_ratio > 0 and path.stat().st_size < 8_000


def test_a_coin_subset_keeps_the_picked_coins_fields_and_the_global_ones() -> None:
    params = example_params(coins=4, vol_per_min=(0.001, 0.002, 0.003, 0.004),
                            half_spread_bps=(1.0, 2.0, 3.0, 4.0), beta=(0.5, 1.0, 1.5, 2.0))

    subset = params.coin_subset([3, 1])

    assert subset.symbols == ("C3BTC", "C1BTC")
    assert subset.vol_per_min == (0.004, 0.002)
    assert subset.half_spread_bps == (4.0, 2.0)
    assert subset.beta == (2.0, 1.0)
    assert subset.tail_df == (5.0, 5.0)
    assert subset.transient_vol_ratio == params.transient_vol_ratio
    assert subset.hour_volume_profile == params.hour_volume_profile


@pytest.mark.parametrize("indices", [[], [4], [-1, 0]])
def test_a_coin_subset_outside_the_calibrated_coins_is_refused(indices: list[int]) -> None:
    with pytest.raises(MarketParamsError, match="not within the 4 calibrated coins"):
        example_params(coins=4).coin_subset(indices)
