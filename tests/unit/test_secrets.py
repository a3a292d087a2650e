"""Exchange keys: environment or a private key file; never shown anywhere.

The CLI tests run `entasis run` in-process (typer's CliRunner) up to the point where live
mode would start, or into a crash, and search everything it printed for the key."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.config import load_config
from bot.secrets import SecretsError, load_api_keys, read_key_file
from tests.conftest import REPO_ROOT

KEY = "liveKEY7hQ2mX9pL4vB8nC1zR6tY3uW5sD0fG"
SECRET = "liveSECRETa8S7d6F5g4H3j2K1l0Zx9Cv8Bn7M"


def key_file(tmp_path: Path, mode: int, text: str | None = None) -> Path:
    path = tmp_path / "entasis.keys"
    path.write_text(text if text is not None else
                    f"# Binance spot keys\nexport api_key={KEY}\napi_secret=\"{SECRET}\"\n")
    path.chmod(mode)
    return path


def test_key_file_with_mode_0600_is_read(tmp_path: Path) -> None:
    path = key_file(tmp_path, 0o600)
    assert read_key_file(path) == {"api_key": KEY, "api_secret": SECRET}
    keys = load_api_keys(load_config(None, environ={}), environ={"ENTASIS_KEY_FILE": str(path)})
    assert keys.values() == [KEY, SECRET] and keys.source == str(path)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_file_readable_by_group_or_others_is_refused_with_the_fix(tmp_path: Path,
                                                                      mode: int) -> None:
    path = key_file(tmp_path, mode)
    with pytest.raises(SecretsError) as refused:
        read_key_file(path)
    message = str(refused.value)
    assert f"mode {mode:04o}" in message and f"chmod 600 {path}" in message
    assert KEY not in message and SECRET not in message


def test_environment_file_format_names_are_accepted(tmp_path: Path) -> None:
    path = key_file(tmp_path, 0o400, f"ENTASIS__EXCHANGE__API_KEY={KEY}\n"
                                      f"ENTASIS__EXCHANGE__API_SECRET='{SECRET}'\n")
    assert read_key_file(path) == {"api_key": KEY, "api_secret": SECRET}


def test_environment_keys_need_no_file_and_repr_hides_them() -> None:
    config = load_config(None, environ={"ENTASIS__EXCHANGE__API_KEY": KEY,
                                        "ENTASIS__EXCHANGE__API_SECRET": SECRET})
    keys = load_api_keys(config, environ={})
    assert keys.source == "environment"
    assert KEY not in repr(keys) and SECRET not in str(keys)


def test_missing_keys_say_where_to_put_them() -> None:
    with pytest.raises(SecretsError, match=r"ENTASIS__EXCHANGE__API_KEY.*key_file"):
        load_api_keys(load_config(None, environ={}), environ={})


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[app]\nmode = "live"\n{extra}')
    return path


def test_live_mode_without_confirm_live_is_refused(tmp_path: Path) -> None:
    env = {"ENTASIS__EXCHANGE__API_KEY": KEY, "ENTASIS__EXCHANGE__API_SECRET": SECRET}
    result = CliRunner().invoke(app, ["run", "--config", str(write_config(tmp_path))], env=env)
    assert result.exit_code == 2
    assert "--confirm-live" in result.output and KEY not in result.output


def test_live_mode_without_keys_or_with_a_public_key_file_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    clean = {name: "" for name in os.environ if name.startswith("ENTASIS")}
    missing = CliRunner().invoke(app, ["run", "--config", str(config), "--confirm-live"],
                                 env=clean)
    assert missing.exit_code == 2 and "missing: api_key, api_secret" in missing.output
    public = key_file(tmp_path, 0o644)
    refused = CliRunner().invoke(app, ["run", "--config", str(config), "--confirm-live"],
                                 env={**clean, "ENTASIS_KEY_FILE": str(public)})
    assert refused.exit_code == 2 and "chmod 600" in refused.output
    assert KEY not in refused.output and SECRET not in refused.output


@pytest.mark.slow
@pytest.mark.integration  # the daemon in a subprocess
def test_a_crash_in_live_mode_prints_no_key_in_its_traceback(tmp_path: Path) -> None:
    """A real process, so typer's real crash printer runs (its default shows every local
    variable, and `run` holds the raw keys for the redaction filter: it printed them)."""
    with socket.socket() as probe:  # a port nothing listens on: the start fails at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_config(tmp_path, f'[exchange]\nsource = "binance"\n'
                                    f'rest_url = "http://127.0.0.1:{port}"\n'
                                    f'ws_url = "ws://127.0.0.1:{port}"\n')
    env = {**os.environ, "ENTASIS__EXCHANGE__API_KEY": KEY, "ENTASIS__EXCHANGE__API_SECRET": SECRET}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "run", "--config", str(config),
                           "--confirm-live"], check=False, capture_output=True, text=True,
                          env=env,
                          cwd=REPO_ROOT, timeout=60)
    shown = done.stdout + done.stderr
    assert done.returncode != 0 and "Connect call failed" in shown  # it did crash, loudly
    assert KEY not in shown and SECRET not in shown
