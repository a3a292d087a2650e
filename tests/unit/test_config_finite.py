"""No float setting accepts inf or nan, and the refusal names the key and its allowed range.

Why: `starting_balance = inf` once passed `gt=0`, was deposited into the ledger as Infinity
and crashed every later start. One rule covers every float of every section, including
settings added after this test was written: the cases below are read from the model.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from bot.config import Config, ConfigError, load_config


def float_settings() -> list[tuple[str, str]]:
    """Every (section, key) whose value is a float (or a list of floats)."""
    found = []
    for section, field in Config.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            for key, setting in model.model_fields.items():
                if setting.annotation in (float, list[float]):
                    found.append((section, key))
    return found


FLOAT_SETTINGS = float_settings()
NON_FINITE_TEXT = ["inf", "-inf", "nan", "Infinity", "-Infinity", "NaN", "1e999", "-1e999"]


def test_the_config_has_float_settings_to_check() -> None:
    assert len(FLOAT_SETTINGS) >= 30 and ("trading", "starting_balance") in FLOAT_SETTINGS


@pytest.mark.parametrize(("section", "key"), FLOAT_SETTINGS, ids=[".".join(s) for s in FLOAT_SETTINGS])
def test_inf_in_config_toml_is_refused_naming_the_key_and_the_range(
        tmp_path: Path, section: str, key: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[{section}]\n{key} = inf\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    message = str(error.value)
    assert f"{section}.{key} = inf: Input should be a finite number; allowed: a finite number" \
        in message


@settings(max_examples=60, deadline=None)
@given(setting=st.sampled_from(FLOAT_SETTINGS), text=st.sampled_from(NON_FINITE_TEXT))
def test_any_non_finite_environment_override_is_refused(setting: tuple[str, str], text: str) -> None:
    section, key = setting
    variable = f"ENTASIS__{section.upper()}__{key.upper()}"
    with pytest.raises(ConfigError, match=rf"{section}\.{key} = '{text}' \(from environment "
                       rf"variable {variable}\): .*finite number"):
        load_config(None, environ={variable: text})


def test_a_nan_starting_balance_is_told_both_bounds(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[trading]\nstarting_balance = nan\n")
    with pytest.raises(ConfigError, match=r"allowed: a finite number > 0 and <= 1,000,000,000,000"):
        load_config(path, environ={})


def test_starting_balance_is_bounded_so_ledger_amounts_stay_exact(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[trading]\nstarting_balance = 1e300\n")
    with pytest.raises(ConfigError, match=r"trading\.starting_balance = 1e\+300: .*less than or equal"):
        load_config(path, environ={})
    path.write_text("[trading]\nstarting_balance = 1e12\n")
    assert load_config(path, environ={}).trading.starting_balance == 1e12


def test_the_range_is_stated_for_two_sided_and_open_bounds(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[risk]\nvar_confidence = nan\n[fills]\nmax_volume_share = inf\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert "risk.var_confidence = nan: Input should be a finite number; allowed: a finite " \
           "number > 0.5 and < 1" in str(error.value)
    assert "fills.max_volume_share = inf: Input should be a finite number; allowed: a finite " \
           "number > 0 and <= 1" in str(error.value)
