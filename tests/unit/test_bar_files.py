"""Bar files of any timeframe load onto one grid of their bar length; a file or folder that
cannot be trusted is refused, whole, with its name and what to fix."""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from exchange.sim.bar_files import BarFileError, load_bar_grid
from exchange.sim.replay import load_grid
from model.errors import DataError
from model.market import MINUTE_MS
from model.timeframes import HOUR_MS, Timeframe, TimeframeError
from strategies.feature_columns import FEATURE_INDEX
from strategies.features_batch import BarGrid, MinuteGrid, features_from_history

REPLAY_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sim_replay"
HEADER = "timestamp_ms,open,high,low,close,volume\n"
START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC, on every grid up to a day


def utc_ms(*date: int) -> int:
    return int(datetime(*date, tzinfo=UTC).timestamp() * 1000)


def write_bars(path: Path, open_ms: list[int], price: float = 100.0) -> Path:
    """A bar file (gzipped when named .gz) with one bar per open time, prices rising."""
    lines = [f"{ts},{price + i},{price + i + 2},{price + i - 1},{price + i + 1},{10 + i}\n"
             for i, ts in enumerate(open_ms)]
    text = HEADER + "".join(lines)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def hours(*offsets: int) -> list[int]:
    return [START_MS + h * HOUR_MS for h in offsets]


def test_hourly_files_load_onto_an_hourly_grid_with_absent_bars_as_nan(tmp_path: Path) -> None:
    write_bars(tmp_path / "ETH_USDT-1h.csv.gz", hours(0, 1, 3), price=2000.0)  # 02:00 absent
    write_bars(tmp_path / "BTC_USDT-1h.csv", hours(2, 3, 4), price=40000.0)  # listed later
    (tmp_path / "README.md").write_text("not a bar file")
    grid = load_bar_grid(tmp_path)
    assert grid.symbols == ("BTCUSDT", "ETHUSDT")
    assert grid.bar_ms == HOUR_MS and grid.start_ms == START_MS
    assert grid.open_ms.tolist() == hours(0, 1, 2, 3, 4)
    np.testing.assert_array_equal(grid.close[:, 0], [np.nan, np.nan, 40001.0, 40002.0, 40003.0])
    np.testing.assert_array_equal(grid.close[:, 1], [2001.0, 2002.0, np.nan, 2003.0, np.nan])
    # quote volume = base volume x the bar's mean price (open, high, low, close), as replayed
    assert grid.quote_volume[0, 1] == 10 * (2000.0 + 2002.0 + 1999.0 + 2001.0) / 4


def test_the_features_read_an_hourly_folder_by_duration(tmp_path: Path) -> None:
    # Windows are durations: the 1h return is one bar's, windows under an hour are absent.
    write_bars(tmp_path / "BTC_USDT-1h.csv", hours(0, 1, 2))
    features = features_from_history(load_bar_grid(tmp_path))
    grid = load_bar_grid(tmp_path)
    assert features[-1, 0, FEATURE_INDEX["ret_1h"]] == pytest.approx(
        np.log(grid.close[2, 0] / grid.close[1, 0]))
    assert np.isnan(features[-1, 0, FEATURE_INDEX["px_ma_5m"]])
    assert features[-1, 0, FEATURE_INDEX["warm_minutes"]] == 3 * 60


def test_a_one_minute_folder_gives_the_replays_grid_to_the_bit() -> None:
    replayed = load_grid(REPLAY_FIXTURE)
    loaded = load_bar_grid(REPLAY_FIXTURE, "1m")
    assert isinstance(loaded, MinuteGrid) and isinstance(loaded, BarGrid)
    assert replayed.bar_ms == loaded.bar_ms == MINUTE_MS
    assert (loaded.symbols, loaded.start_ms) == (replayed.symbols, replayed.start_ms)
    for name in ("open", "high", "low", "close", "quote_volume"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(replayed, name))


def test_grids_built_without_a_bar_length_stay_one_minute_grids() -> None:
    nan = np.full((3, 1), np.nan)
    grid = MinuteGrid(("A",), START_MS, nan, nan, nan, nan, nan)
    assert grid.bar_ms == MINUTE_MS
    assert grid.open_ms.tolist() == [START_MS + m * MINUTE_MS for m in range(3)]


def test_the_timeframe_asked_for_is_picked_from_a_mixed_folder(tmp_path: Path) -> None:
    write_bars(tmp_path / "ETH_USDT-1h.csv", hours(0, 1))
    write_bars(tmp_path / "ETH_USDT-5m.csv", [START_MS + 5 * MINUTE_MS * i for i in range(4)])
    assert load_bar_grid(tmp_path, Timeframe.M5).bar_ms == 5 * MINUTE_MS
    assert load_bar_grid(tmp_path, "1h").close.shape == (2, 1)


def test_a_mixed_folder_without_a_timeframe_is_refused_naming_both(tmp_path: Path) -> None:
    write_bars(tmp_path / "ETH_USDT-1h.csv", hours(0, 1))
    write_bars(tmp_path / "ETH_USDT-5m.csv", [START_MS])
    folder = re.escape(str(tmp_path))
    with pytest.raises(BarFileError, match=rf"{folder} mixes timeframes: 5m .*1h .*--timeframe"):
        load_bar_grid(tmp_path)


def test_a_timeframe_the_folder_lacks_is_refused_saying_what_it_holds(tmp_path: Path) -> None:
    write_bars(tmp_path / "ETH_USDT-1h.csv", hours(0, 1))
    with pytest.raises(BarFileError, match=r"timeframe 5m asked for.*-5m\.csv.*holds "
                                           r"1h \(1 file, e\.g\. ETH_USDT-1h\.csv\)"):
        load_bar_grid(tmp_path, "5m")
    with pytest.raises(TimeframeError, match="unknown timeframe '5min'"):
        load_bar_grid(tmp_path, "5min")


def test_a_five_minute_file_named_hourly_is_refused_naming_it(tmp_path: Path) -> None:
    write_bars(tmp_path / "ETH_USDT-1h.csv", hours(0, 1))
    write_bars(tmp_path / "BTC_USDT-1h.csv.gz",
               [START_MS + 5 * MINUTE_MS * i for i in range(24)])
    with pytest.raises(BarFileError, match=r"BTC_USDT-1h\.csv\.gz: the name says 1h bars, but "
                                           r"the closest bars are 5m apart.*-5m"):
        load_bar_grid(tmp_path)


def test_an_hourly_file_named_five_minutes_is_refused_naming_it(tmp_path: Path) -> None:
    write_bars(tmp_path / "BTC_USDT-5m.csv", hours(0, 1, 2))
    with pytest.raises(BarFileError, match=r"BTC_USDT-5m\.csv: the name says 5m bars, but the "
                                           r"closest bars are 1h apart"):
        load_bar_grid(tmp_path)


def test_bars_off_the_timeframes_grid_are_refused(tmp_path: Path) -> None:
    write_bars(tmp_path / "BTC_USDT-1h.csv", [t + 30 * MINUTE_MS for t in hours(0, 1)])
    with pytest.raises(BarFileError, match=r"BTC_USDT-1h\.csv: line 2: a bar opening at "
                                           r"2024-01-01 00:30 UTC is off the 1h grid"):
        load_bar_grid(tmp_path)


@pytest.mark.parametrize(("content", "says"),
                         [(b"", "empty file"), (HEADER.encode(), "no bars")])
def test_an_empty_file_is_refused_naming_it(tmp_path: Path, content: bytes, says: str
                                            ) -> None:
    write_bars(tmp_path / "ETH_USDT-1h.csv", hours(0, 1))
    (tmp_path / "BTC_USDT-1h.csv").write_bytes(content)
    with pytest.raises(BarFileError, match=rf"BTC_USDT-1h\.csv: {says}"):
        load_bar_grid(tmp_path)


def test_unsorted_bars_are_refused_naming_the_file_and_lines(tmp_path: Path) -> None:
    write_bars(tmp_path / "BTC_USDT-1h.csv", hours(0, 2, 1))
    with pytest.raises(BarFileError, match=r"BTC_USDT-1h\.csv: not sorted by time: line 4 "
                                           r"\(2024-01-01 01:00 UTC\) comes after line 3"):
        load_bar_grid(tmp_path)


def test_a_repeated_bar_is_refused_naming_the_file_and_lines(tmp_path: Path) -> None:
    write_bars(tmp_path / "BTC_USDT-1h.csv", hours(0, 1, 1, 2))
    with pytest.raises(BarFileError, match=r"BTC_USDT-1h\.csv: the bar of 2024-01-01 01:00 UTC "
                                           r"appears twice \(lines 3 and 4\)"):
        load_bar_grid(tmp_path)


def test_a_missing_value_or_text_in_a_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "BTC_USDT-1h.csv"
    path.write_text(HEADER + f"{hours(0)[0]},1,2,0.5,1.5,10\n{hours(1)[0]},1,2,0.5,,10\n")
    with pytest.raises(BarFileError, match=r"BTC_USDT-1h\.csv: line 3 has no close"):
        load_bar_grid(tmp_path)
    path.write_text(HEADER + f"{hours(0)[0]},1,2,0.5,1.5,ten\n")
    with pytest.raises(BarFileError, match=r"BTC_USDT-1h\.csv: column volume holds text"):
        load_bar_grid(tmp_path)
    path.write_text("time,open,high,low,close,volume\n1,1,1,1,1,1\n")
    with pytest.raises(BarFileError, match=r"BTC_USDT-1h\.csv: cannot read columns"):
        load_bar_grid(tmp_path)


def test_a_pair_file_with_an_unknown_timeframe_is_refused_not_skipped(tmp_path: Path) -> None:
    write_bars(tmp_path / "ETH_USDT-1h.csv", hours(0, 1))
    write_bars(tmp_path / "BTC_USDT-7m.csv", [START_MS])
    with pytest.raises(TimeframeError, match=r"BTC_USDT-7m\.csv: unknown timeframe '7m'"):
        load_bar_grid(tmp_path)


def test_the_same_pair_twice_is_refused(tmp_path: Path) -> None:
    write_bars(tmp_path / "BTC_USDT-1h.csv", hours(0, 1))
    write_bars(tmp_path / "BTC_USDT-1h.csv.gz", hours(0, 1))
    with pytest.raises(BarFileError, match="hold the same pair BTC/USDT at 1h"):
        load_bar_grid(tmp_path)


def test_a_missing_or_empty_folder_is_refused_naming_it(tmp_path: Path) -> None:
    folder = re.escape(str(tmp_path))
    with pytest.raises(BarFileError, match=rf"bar folder {folder}/nope not found"):
        load_bar_grid(tmp_path / "nope")
    write_bars(tmp_path / "KRW-BTC-1m.csv", [START_MS])  # not a <BASE>_<QUOTE> pair file
    with pytest.raises(BarFileError, match=rf"no bar files in {folder}.*BTC_USDT-5m\.csv\.gz"):
        load_bar_grid(tmp_path)


def test_one_bad_file_refuses_the_whole_folder(tmp_path: Path) -> None:
    for base in ("AAA", "BBB", "DDD"):
        write_bars(tmp_path / f"{base}_USDT-1h.csv", hours(0, 1, 2))
    write_bars(tmp_path / "CCC_USDT-1h.csv", hours(0, 0))
    with pytest.raises(BarFileError, match=r"CCC_USDT-1h\.csv") as caught:
        load_bar_grid(tmp_path)
    assert isinstance(caught.value, DataError) and isinstance(caught.value, ValueError)


# -- the shared data (../shared/data/ohlcv) ----------------------------------------------------

@pytest.mark.shared_data
def test_the_hourly_binance_years_load_as_33_coins_from_2017_to_2022(shared_data: Path) -> None:
    grid = load_bar_grid(shared_data / "ohlcv" / "binance_1h_2017-2022")
    assert len(grid.symbols) == 33 and all(s.endswith("USDT") for s in grid.symbols)
    assert grid.bar_ms == HOUR_MS
    assert grid.start_ms == utc_ms(2017, 8, 17, 4)
    assert int(grid.open_ms[-1]) == utc_ms(2022, 10, 11, 10)
    btc = grid.close[:, grid.symbols.index("BTCUSDT")]
    assert btc[0] == 4308.83  # the source's first close, unchanged
    outage = (grid.open_ms >= utc_ms(2018, 2, 8, 1)) & (grid.open_ms < utc_ms(2018, 2, 9, 10))
    assert outage.sum() == 33 and np.isnan(btc[outage]).all()  # the 33 h outage stays absent
    assert np.isfinite(btc).sum() == 45_024  # every BTC row of the file, none invented
    ape = grid.close[:, grid.symbols.index("APEUSDT")]
    assert np.isnan(ape[grid.open_ms < utc_ms(2022, 3, 1)]).all()  # not listed yet


@pytest.mark.shared_data
def test_five_minute_binance_bars_load_on_a_five_minute_grid(shared_data: Path,
                                                              tmp_path: Path) -> None:
    source = shared_data / "ohlcv" / "binance_5m_2024"
    for coin in ("BTC", "SLF", "ELF"):  # a major, the latest listing, the most no-trade bars
        (tmp_path / f"{coin}_USDT-5m.csv.gz").symlink_to(source / f"{coin}_USDT-5m.csv.gz")
    grid = load_bar_grid(tmp_path, "5m")
    assert grid.symbols == ("BTCUSDT", "ELFUSDT", "SLFUSDT")
    assert grid.bar_ms == 5 * MINUTE_MS and grid.start_ms == utc_ms(2024, 1, 1)
    slf = grid.close[:, 2]
    assert np.isnan(slf[grid.open_ms < utc_ms(2024, 8, 30)]).all()
    assert np.isfinite(slf).sum() == 2_237
    btc_rows = np.isfinite(grid.close[:, 0])
    assert btc_rows[: int(btc_rows.sum())].all()  # no gap in BTC from its first bar on


@pytest.mark.slow
@pytest.mark.shared_data
def test_the_whole_five_minute_set_loads_as_121_coins(shared_data: Path) -> None:
    grid = load_bar_grid(shared_data / "ohlcv" / "binance_5m_2024")
    assert len(grid.symbols) == 121 and grid.bar_ms == 5 * MINUTE_MS
    assert grid.start_ms == utc_ms(2024, 1, 1)
    assert int(np.isfinite(grid.close).sum()) == 8_059_914  # every row of the set, once


@pytest.mark.shared_data
@pytest.mark.parametrize(("folder", "timeframe", "coins"), [
    ("freqtrade_bittrex_2017-11", "1m", 20), ("freqtrade_bittrex_2017-11", "5m", 20),
    ("freqtrade_bittrex_2017-12", "1m", 10), ("freqtrade_bittrex_2017-12", "5m", 10),
    ("freqtrade_binance_2019", "1m", 1), ("freqtrade_binance_2019", "5m", 1)])
def test_every_other_shared_set_passes_the_checks(shared_data: Path, folder: str,
                                                  timeframe: str, coins: int) -> None:
    grid = load_bar_grid(shared_data / "ohlcv" / folder, timeframe)
    assert len(grid.symbols) == coins and grid.bar_ms == Timeframe.parse(timeframe).ms


def test_daily_bars_load_on_a_daily_grid(tmp_path: Path) -> None:
    write_bars(tmp_path / "BTC_USDT-1d.csv", [START_MS + d * 86_400_000 for d in (0, 1, 3)])
    grid = load_bar_grid(tmp_path, Timeframe.D1)
    assert grid.bar_ms == 86_400_000 and grid.close.shape == (4, 1)
    assert np.isnan(grid.close[2, 0])  # the missing day
