"""The HTML report's headline table (bot/research/report_html.py): human labels and formatted
values instead of field names and raw floats, one row per rule."""

from __future__ import annotations

import pytest

from bot.research.report import clock_of
from bot.research.report_html import headline_rows

SUMMARY = {"from_ms": 1_796_648_700_000, "to_ms": None, "start_equity": 10000.0,
           "end_equity": 10002.66798393, "total_return_pct": 0.0266798393,
           "max_drawdown_pct": 1.5, "round_trips": 0, "win_rate": None,
           "realized_pnl": "0E-16", "fees": "4.111208088461538461538461538",
           "quote_asset": "USDT", "clock": "sim", "regimes": {"1h": {}}, "charts": {}, "html": "x"}


@pytest.mark.parametrize(("label", "shown"), [
    ("From", "2026-12-07 13:05 (sim)"),
    ("To", "–"),
    ("Starting equity", "10,000.00 USDT"),
    ("Ending equity", "10,002.67 USDT"),
    ("Total return", "+0.03%"),
    ("Max drawdown", "1.50%"),
    ("Round trips", "no trades yet"),
    ("Win rate", "–"),
    ("Realized PnL", "0.00 USDT"),
    ("Fees paid", "4.11 USDT"),
    ("Clock", "simulated market (runs ahead of real time)"),
])
def test_headline_rows_read_as_words_and_formatted_numbers(label: str, shown: str) -> None:
    assert dict(headline_rows(SUMMARY))[label] == shown


def test_field_names_and_nested_sections_stay_out_of_the_headline() -> None:
    labels = [label for label, _ in headline_rows(SUMMARY)]
    assert "total_return_pct" not in labels and "regimes" not in labels and "html" not in labels


@pytest.mark.parametrize(("to_ms", "now_ms", "clock"), [
    (10 * 3_600_000, 0, "sim"),  # the ledger is ahead of the wall clock: the simulator wrote it
    (1_000, 0, "wall"),
    (None, 0, "wall"),
])
def test_a_ledger_from_the_future_is_sim_time(to_ms: int | None, now_ms: int, clock: str) -> None:
    assert clock_of(to_ms, now_ms) == clock
