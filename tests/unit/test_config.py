"""Configuration: a bad value stops the daemon with an error that names key, value and rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from tests.conftest import REPO_ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_repo_config_toml_is_valid_and_matches_the_defaults() -> None:
    from_file = load_config(REPO_ROOT / "config.toml", environ={})
    defaults = load_config(None, environ={})
    assert from_file.masked() == defaults.masked()
    assert from_file.app.mode == "paper" and from_file.exchange.source == "sim"


def test_every_key_in_config_toml_is_documented_by_a_comment() -> None:
    lines = (REPO_ROOT / "config.toml").read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            above = i - 1
            while "=" in lines[above] and not lines[above].startswith("#"):
                above -= 1  # keys documented together by one comment block
            assert lines[above].startswith("#"), f"key without a comment above it: {line!r}"


def test_data_dir_defaults_to_var_beside_the_config_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), environ={})
    assert config.data_dir == tmp_path.resolve() / "var"


@pytest.mark.parametrize(
    ("toml", "key", "value", "rule"),
    [
        ('[sim]\ncoins = 0', "sim.coins", "0", "greater than or equal to 1"),
        ('[app]\nmode = "yolo"', "app.mode", "'yolo'", "'paper' or 'live'"),
        ('[feed]\nstale_after_s = -1', "feed.stale_after_s", "-1", "greater than 0"),
        ('[control]\nhost = "0.0.0.0"', "control.host", "'0.0.0.0'", "'127.0.0.1'"),
        ('[strategy]\ntop_k = "ten"', "strategy.top_k", "'ten'", "valid integer"),
    ],
)
def test_bad_value_names_the_key_the_value_and_what_is_allowed(
    tmp_path: Path, toml: str, key: str, value: str, rule: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, toml), environ={})
    message = str(error.value)
    assert key in message and value in message and rule in message


def test_unknown_key_is_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sim\.coinz: unknown key"):
        load_config(write(tmp_path, "[sim]\ncoinz = 3"), environ={})


def test_backoff_bounds_must_be_ordered(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="reconnect_max_s"):
        load_config(write(tmp_path, "[feed]\nreconnect_min_s = 5\nreconnect_max_s = 1"), environ={})


def test_invalid_toml_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[sim\ncoins = 3"), environ={})


def test_environment_overrides_file_values(tmp_path: Path) -> None:
    environ = {"ENTASIS__SIM__COINS": "12", "ENTASIS__EXCHANGE__API_KEY": "k-123456"}
    config = load_config(write(tmp_path, "[sim]\ncoins = 3"), environ=environ)
    assert config.sim.coins == 12
    assert config.exchange.api_key.get_secret_value() == "k-123456"


def test_malformed_environment_override_is_refused() -> None:
    with pytest.raises(ConfigError, match="ENTASIS__SECTION__KEY"):
        load_config(None, environ={"ENTASIS__COINS": "3"})


def test_secrets_are_masked_and_never_echoed_in_errors(tmp_path: Path) -> None:
    secret = "s3cr3t-value-do-not-print"
    config = load_config(None, environ={"ENTASIS__EXCHANGE__API_SECRET": secret})
    assert secret not in str(config.masked()) and config.masked()["exchange"]["api_secret"] == "***"
    assert secret not in repr(config)
    with pytest.raises(ConfigError) as error:
        load_config(None, environ={"ENTASIS__EXCHANGE__API_SECRET": secret, "ENTASIS__SIM__COINS": "x"})
    assert secret not in str(error.value)


@pytest.mark.integration  # the CLI in subprocesses
def test_config_check_prints_masked_config_and_daemon_refuses_bad_config(tmp_path: Path) -> None:
    good = write(tmp_path, "")
    env = {"ENTASIS__EXCHANGE__API_KEY": "abcd-secret-key", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "config", "check", "--config", str(good)],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert '"api_key": "***"' in done.stdout and "abcd-secret-key" not in done.stdout + done.stderr

    bad = write(tmp_path, "[sim]\nspeed = 0")
    refused = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", "--config", str(bad)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
    )
    assert refused.returncode == 2
    assert "sim.speed = 0" in refused.stderr and "greater than 0" in refused.stderr


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("ENTASIS__SIM__COINS", "x", "sim.coins = 'x' (from environment variable ENTASIS__SIM__COINS)"),
        ("ENTASIS__TELEGRAM__BATCH_WINDOW_S", "-5",
         "telegram.batch_window_s = '-5' (from environment variable ENTASIS__TELEGRAM__BATCH_WINDOW_S)"),
        ("ENTASIS__SIM__COINZ", "3",
         "sim.coinz (from environment variable ENTASIS__SIM__COINZ): unknown key"),
    ],
)
def test_an_environment_override_error_names_the_variable_not_the_file(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, "[sim]\ncoins = 3"), environ={variable: value})
    message = str(error.value)
    assert expected in message and "and the environment" in message


def test_a_file_error_beside_an_override_still_blames_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, "[sim]\ncoins = 0"), environ={"ENTASIS__SIM__SPEED": "2"})
    line = next(line for line in str(error.value).splitlines() if "sim.coins" in line)
    assert line.strip().startswith("sim.coins = 0: ") and "environment variable" not in line


def test_telegram_batching_defaults_send_urgent_kinds_at_once_and_batch_fills() -> None:
    telegram = load_config(None, environ={}).telegram
    assert telegram.batch_window_s == 60.0 and 0 < telegram.shutdown_flush_s <= 10
    assert {"breaker", "daemon", "order_failed", "trading_state"} <= set(telegram.immediate)
    assert "fill" not in telegram.immediate
    override = load_config(None, environ={"ENTASIS__TELEGRAM__IMMEDIATE": "fill,breaker"})
    assert override.telegram.immediate == ["fill", "breaker"]
