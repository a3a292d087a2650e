"""Timeframes: named as exchanges name them, parsed from text and from bar file names, with
errors that name the text or the file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from model.errors import ConfigError
from model.market import MINUTE_MS
from model.timeframes import HOUR_MS, Timeframe, TimeframeError, duration_text


def utc_ms(*date: int) -> int:
    return int(datetime(*date, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(("text", "minutes"), [
    ("1m", 1), ("3m", 3), ("5m", 5), ("15m", 15), ("30m", 30), ("1h", 60), ("2h", 120),
    ("4h", 240), ("6h", 360), ("12h", 720), ("1d", 1440), ("1w", 7 * 1440)])
def test_each_timeframe_parses_from_its_name_with_its_length(text: str, minutes: int) -> None:
    timeframe = Timeframe.parse(text)
    assert timeframe.ms == minutes * MINUTE_MS
    assert str(timeframe) == text


def test_surrounding_spaces_are_ignored_but_case_is_not() -> None:
    assert Timeframe.parse(" 5m\n") is Timeframe.M5
    with pytest.raises(TimeframeError, match=r"unknown timeframe '1M'.*1m, 3m, 5m"):
        Timeframe.parse("1M")  # a month on Binance and in ccxt, never a minute


@pytest.mark.parametrize("text", ["7m", "60m", "5", "m", "", "1y"])
def test_an_unknown_timeframe_is_a_config_error_naming_it(text: str) -> None:
    with pytest.raises(TimeframeError) as caught:
        Timeframe.parse(text)
    assert repr(text) in str(caught.value)
    assert isinstance(caught.value, ConfigError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize(("name", "expected"), [
    ("BTC_USDT-5m.csv.gz", Timeframe.M5),
    ("ETH_BTC-1m.csv", Timeframe.M1),
    (Path("/data/binance_1h/SOL_USDT-1h.csv.gz"), Timeframe.H1),
    ("XRP_USDT_USDT-futures-1h.csv.gz", Timeframe.H1),
    ("KRW-BTC-3m.csv.gz", Timeframe.M3),
])
def test_the_timeframe_comes_from_a_bar_file_name(name: str | Path, expected: Timeframe
                                                 ) -> None:
    assert Timeframe.from_file_name(name) is expected


def test_an_unknown_timeframe_in_a_file_name_names_the_file() -> None:
    with pytest.raises(TimeframeError, match=r"BTC_USDT-7m\.csv\.gz: unknown timeframe '7m'"):
        Timeframe.from_file_name(Path("/data/BTC_USDT-7m.csv.gz"))


@pytest.mark.parametrize("name", ["README.md", "BTC_USDT.csv", "BTC_USDT-5m.json"])
def test_a_name_without_a_timeframe_is_refused_with_the_expected_form(name: str) -> None:
    with pytest.raises(TimeframeError, match=rf"{name}: not a bar file name.*-5m\.csv\.gz"):
        Timeframe.from_file_name(name)


def test_bars_up_to_a_day_open_on_the_epoch_grid_and_weeks_on_mondays() -> None:
    assert Timeframe.H1.is_bar_open(utc_ms(2024, 3, 5, 17))
    assert not Timeframe.H1.is_bar_open(utc_ms(2024, 3, 5, 17, 30))
    assert Timeframe.D1.is_bar_open(utc_ms(2024, 3, 5))
    assert Timeframe.W1.is_bar_open(utc_ms(2024, 1, 1))  # a Monday, as on Binance
    assert not Timeframe.W1.is_bar_open(utc_ms(2024, 1, 4))  # a Thursday, like the epoch


@pytest.mark.parametrize(("duration_ms", "text"), [
    (5 * MINUTE_MS, "5m"), (HOUR_MS, "1h"), (90 * MINUTE_MS, "90m"), (2 * HOUR_MS, "2h"),
    (24 * HOUR_MS, "1d"), (30_000, "30s"), (1500, "1500ms")])
def test_durations_read_as_timeframes_in_messages(duration_ms: int, text: str) -> None:
    assert duration_text(duration_ms) == text
