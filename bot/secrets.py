"""Exchange API keys: where they may come from, and how they are kept out of every output.

Two sources, nothing else:
1. the environment — `ENTASIS__EXCHANGE__API_KEY` / `ENTASIS__EXCHANGE__API_SECRET`, e.g.
   from systemd's `EnvironmentFile=` (read by `bot.config.load_config`);
2. a key file named by `[exchange] key_file` or `ENTASIS_KEY_FILE`, in the same KEY=VALUE
   format (`api_key=...` / `api_secret=...` also accepted). It must be a regular file with
   mode 0600 or stricter: a file that the group or others can read is refused, with the
   chmod that fixes it, before a byte of it is read.

Keys travel as `pydantic.SecretStr` (its repr and str are `**********`) and are unwrapped
only where they are handed to the exchange client. `ApiKeys.values()` feeds the log
redaction filter (`bot.logs.RedactSecrets`); the control API and status never include them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from model import errors

if TYPE_CHECKING:
    from bot.config import Config

KEY_FILE_ENV = "ENTASIS_KEY_FILE"
_NAMES = {
    "api_key": ("ENTASIS__EXCHANGE__API_KEY", "API_KEY", "api_key"),
    "api_secret": ("ENTASIS__EXCHANGE__API_SECRET", "API_SECRET", "api_secret"),
}


class SecretsError(errors.ConfigError):
    """The keys cannot be used; the message says what to do (and never shows a key)."""


@dataclass(frozen=True, slots=True)
class ApiKeys:
    """One exchange key pair. Printing it shows `**********`, never the values."""

    api_key: SecretStr
    api_secret: SecretStr
    source: str  # "environment" or the key file's path: safe to log

    def values(self) -> list[str]:
        """The raw strings, for the log redaction filter only."""
        return [self.api_key.get_secret_value(), self.api_secret.get_secret_value()]


def check_private(path: Path) -> None:
    """Refuse a key file that is missing, not a regular file, or readable by group/others."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SecretsError(f"key file {path} does not exist; create it with mode 0600") from None
    if not stat.S_ISREG(info.st_mode):
        raise SecretsError(f"key file {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise SecretsError(
            f"key file {path} has mode {mode:04o}: group or others can read it. Refusing to "
            f"use it; run `chmod 600 {path}` (and rotate the keys if others could read them)")


def read_key_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (systemd EnvironmentFile syntax: `#` comments, optional quotes and
    `export`), after `check_private`. Returns the api_key/api_secret it defines."""
    check_private(path)
    found: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise SecretsError(f"key file {path} line {number}: expected NAME=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        for field, names in _NAMES.items():
            if name.strip() in names:
                found[field] = value
    return found


def load_api_keys(config: Config, environ: Mapping[str, str] | None = None) -> ApiKeys:
    """The exchange keys for live trading, from the environment or the key file.

    Raises `SecretsError` naming what is missing and where to put it."""
    environ = os.environ if environ is None else environ
    key = config.exchange.api_key.get_secret_value()
    secret = config.exchange.api_secret.get_secret_value()
    source = "environment"
    file_name = environ.get(KEY_FILE_ENV) or getattr(config.exchange, "key_file", "")
    if file_name and not (key and secret):
        path = Path(file_name)
        path = path if path.is_absolute() else config.base_dir / path
        found = read_key_file(path)
        key, secret, source = found.get("api_key", key), found.get("api_secret", secret), str(path)
    missing = [name for name, value in (("api_key", key), ("api_secret", secret)) if not value]
    if missing:
        raise SecretsError(
            f"live trading needs exchange keys; missing: {', '.join(missing)}. Set "
            "ENTASIS__EXCHANGE__API_KEY and ENTASIS__EXCHANGE__API_SECRET (e.g. in the systemd "
            f"EnvironmentFile), or point [exchange] key_file / {KEY_FILE_ENV} at a mode-0600 "
            "file with api_key=... and api_secret=... lines")
    return ApiKeys(SecretStr(key), SecretStr(secret), source)
