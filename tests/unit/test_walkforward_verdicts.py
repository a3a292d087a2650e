"""The walk-forward verdicts store (bot/research/verdicts.py): the newest verdict of each
policy per market, read-only and torch-free for the daemon."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bot.research.verdicts import (
    Verdict,
    VerdictStoreError,
    data_exchange,
    latest_verdicts,
    market_id,
    record_verdicts,
)

MARKET = "binance/USDT/1h"


def verdict(policy: str = "sma", sharpe: float = 0.7, total_return: float = 0.3) -> Verdict:
    return Verdict(market=MARKET, policy=policy, batch_policy=policy, params={},
                   whole_universe=True, sharpe=sharpe, deflated_sharpe=0.01,
                   total_return=total_return, max_drawdown=0.2,
                   beat_flat=sharpe > 0 and total_return > 0, folds=9, n_trials=7,
                   data="/data/binance_1h_2017-2022", timeframe="1h", start_ms=1, end_ms=2)


def test_market_id_is_exchange_quote_and_bar_length() -> None:
    assert market_id(" Binance", "usdt", "1h") == MARKET


def test_the_newest_verdict_of_each_policy_counts_and_older_ones_stay(tmp_path: Path) -> None:
    path = tmp_path / "walkforward_trials.sqlite"
    record_verdicts(path, [verdict("sma", 0.7), verdict("baseline", -3.0, -0.58)], now_ms=1)
    record_verdicts(path, [verdict("sma", -0.2, -0.1)], now_ms=2)
    record_verdicts(path, [replace(verdict("sma", 2.0), market="upbit/KRW/1h")], now_ms=3)
    latest = {v.policy: v for v in latest_verdicts(path, MARKET)}
    assert set(latest) == {"sma", "baseline"}
    assert latest["sma"].sharpe == -0.2 and latest["sma"].recorded_ms == 2
    assert not latest["sma"].beat_flat and latest["sma"].plain
    assert latest["baseline"].recorded_ms == 1  # not run again: its verdict stands


def test_no_file_or_no_table_means_no_verdict(tmp_path: Path) -> None:
    assert latest_verdicts(tmp_path / "missing.sqlite", MARKET) == []
    import sqlite3

    sqlite3.connect(tmp_path / "trials_only.sqlite").execute("CREATE TABLE trials (x)").close()
    assert latest_verdicts(tmp_path / "trials_only.sqlite", MARKET) == []


def test_a_file_that_is_no_database_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "walkforward_trials.sqlite"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(VerdictStoreError, match=r"walkforward_trials\.sqlite"):
        latest_verdicts(path, MARKET)


def test_the_exchange_comes_from_the_folder_name_or_must_be_given(tmp_path: Path) -> None:
    assert data_exchange(tmp_path / "binance_1h_2017-2022", None) == "binance"
    assert data_exchange(tmp_path / "freqtrade_bittrex_2017-11", "bittrex") == "bittrex"
    with pytest.raises(VerdictStoreError, match="--exchange"):
        data_exchange(tmp_path / "freqtrade_bittrex_2017-11", None)


def test_reading_verdicts_does_not_import_torch() -> None:
    done = subprocess.run([sys.executable, "-c", "import sys, bot.research.verdicts; "
                           "print('torch' in sys.modules)"], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"
