"""Bar lengths (timeframes) by their exchange names: "1m", "5m", "1h", "1d", "1w".

A timeframe is both a word people type (`--timeframe 5m`) and the last part of a bar file's
name (`BTC_USDT-5m.csv.gz`, the ../shared/data/ohlcv and `entasis download` format), so both
parse here, once, with an error that names the text or the file. Names are case-sensitive on
purpose: on Binance and in ccxt "1M" is a month, not a minute.

Bars open on a grid: a bar of length L opens at `origin_ms + k * L`. Every timeframe up to a
day is aligned to the Unix epoch (00:00 UTC); weekly bars open on Mondays 00:00 UTC, as
Binance's do, and the epoch was a Thursday, so their origin is four days later.
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import PurePath

from model import errors
from model.market import MINUTE_MS

HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
_UNIT_MS = {"m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS, "w": WEEK_MS}
#: `<SYMBOL>-<timeframe>.csv` or `.csv.gz`; the symbol part may hold dashes of its own.
BAR_FILE_NAME = re.compile(r"^(?P<symbol>.+)-(?P<timeframe>[^-.]+)\.csv(?:\.gz)?$")


class TimeframeError(errors.ConfigError, ValueError):
    """A timeframe name that is not one of `Timeframe`'s, or a bar file name without one.

    A configuration error: the name comes from an option, a setting or the files of a data
    directory, and the operator fixes it there (a retry with the same name cannot help)."""


class Timeframe(Enum):
    """A bar length Entasis can read, named as exchanges name it."""

    M1 = "1m"
    M3 = "3m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    H2 = "2h"
    H4 = "4h"
    H6 = "6h"
    H12 = "12h"
    D1 = "1d"
    W1 = "1w"

    @property
    def ms(self) -> int:
        """The bar length in milliseconds."""
        return int(self.value[:-1]) * _UNIT_MS[self.value[-1]]

    @property
    def origin_ms(self) -> int:
        """A time at which a bar opens (bars open every `ms` from here): Monday 1970-01-05
        for weekly bars, the epoch for the rest."""
        return 4 * DAY_MS if self is Timeframe.W1 else 0

    def is_bar_open(self, ts_ms: int) -> bool:
        """Whether a bar of this length opens at `ts_ms`."""
        return (ts_ms - self.origin_ms) % self.ms == 0

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        """The timeframe named `text` ("5m", "1h"); `TimeframeError` naming it otherwise."""
        try:
            return cls(text.strip())
        except ValueError:
            raise TimeframeError(f"unknown timeframe {text!r}; use one of {known()}") from None

    @classmethod
    def from_file_name(cls, name: str | PurePath) -> Timeframe:
        """The timeframe in a bar file's name, `BTC_USDT-5m.csv.gz` -> 5m; `TimeframeError`
        naming the file when the name has none or an unknown one."""
        file_name = PurePath(name).name
        match = BAR_FILE_NAME.match(file_name)
        if match is None:
            raise TimeframeError(
                f"{file_name}: not a bar file name; bar files are named "
                "<SYMBOL>-<timeframe>.csv[.gz], e.g. BTC_USDT-5m.csv.gz")
        text = match.group("timeframe")
        try:
            return cls(text)
        except ValueError:
            raise TimeframeError(
                f"{file_name}: unknown timeframe {text!r} in the file name; use one of "
                f"{known()}") from None


def known() -> str:
    """The timeframe names, shortest first, for error messages."""
    return ", ".join(tf.value for tf in Timeframe)


def duration_text(duration_ms: int) -> str:
    """A duration as a timeframe would name it (300000 -> "5m", 90 min -> "90m"), or in
    seconds/milliseconds when it is not a whole number of minutes: for error messages."""
    for unit in ("w", "d", "h", "m"):
        if duration_ms and duration_ms % _UNIT_MS[unit] == 0:
            return f"{duration_ms // _UNIT_MS[unit]}{unit}"
    if duration_ms % 1000 == 0:
        return f"{duration_ms // 1000}s"
    return f"{duration_ms}ms"
