"""`entasis sim fills`: the tape-against-model fill-rate comparison end to end on files of
the steady synthetic market (tests/tape_data.py), and its refusals of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.tape_data import START_MS, write_steady_market


def sim_fills(*args: str) -> tuple[int, str]:
    """(exit code, stdout) of `entasis sim fills ARGS`."""
    result = CliRunner().invoke(app, ["sim", "fills", *args])
    return result.exit_code, result.stdout


def sim_fills_error(*args: str) -> str:
    """The stderr of `entasis sim fills ARGS`, which must exit 2."""
    result = CliRunner().invoke(app, ["sim", "fills", *args])
    assert result.exit_code == 2, result.output
    return result.stderr


def one_minute_both(report: dict, subset: str = "test") -> dict:
    return next(r for r in report["rows"] if r["horizon_min"] == 1 and r["side"] == "both"
                and r["set"] == subset)


@pytest.mark.parametrize("given_bars", [True, False])
def test_json_compares_the_tape_and_the_model_on_given_or_built_bars(
        tmp_path: Path, given_bars: bool) -> None:
    trades, bars = write_steady_market(tmp_path)
    code, output = sim_fills("--trades", str(trades), *(("--bars", str(bars)) * given_bars),
                             "--amount", "5", "--json")
    assert code == 0, output
    assert len(output.strip().splitlines()) == 1
    report = json.loads(output)
    assert report["ok"] and report["touch_from"] == "tape" and report["tick"] == 0.01
    assert report["queue_from"].startswith("assumed: bid 0, ask 0")  # no sweep in the tape
    row = one_minute_both(report)
    assert row["tape"]["amount_share"] == 1.0
    assert row["model"]["amount_share"] == pytest.approx(0.2)  # 10 % of 10 a bar, of 5
    assert row["gap"] == pytest.approx(-0.8)
    fit = {f["parameter"]: f for f in report["fits"]}
    assert fit["max_volume_share"]["value"] == pytest.approx(0.5, rel=1e-3)
    assert fit["max_volume_share"]["reached"] and not fit["bar_book_share"]["reached"]


def test_quoted_sizes_are_the_queue_ahead(tmp_path: Path) -> None:
    trades, _ = write_steady_market(tmp_path)
    quotes = tmp_path / "quotes.csv"
    quotes.write_text(f"timestamp_ms,bid,bid_size,ask,ask_size\n{START_MS},100.00,8,100.01,8\n")
    code, output = sim_fills("--trades", str(trades), "--quotes", str(quotes), "--amount", "5",
                             "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["touch_from"] == "quotes" and report["queue_from"] == "quotes"
    # 8 ahead, 10 traded at the price a minute: 2 of our 5 fill in the first minute
    assert one_minute_both(report)["tape"]["amount_share"] == pytest.approx(0.4)


def test_at_bar_open_rests_the_tape_orders_where_the_model_rests_its_own(tmp_path: Path) -> None:
    trades, _ = write_steady_market(tmp_path)
    quotes = tmp_path / "quotes.csv"  # a touch far from the bars': not used with --at-bar-open
    quotes.write_text(f"timestamp_ms,bid,bid_size,ask,ask_size\n{START_MS},99.00,8,101.00,8\n")
    code, output = sim_fills("--trades", str(trades), "--quotes", str(quotes), "--amount", "5",
                             "--at-bar-open", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["touch_from"] == "the model's (bar open)"
    assert report["queue_from"].startswith("assumed")
    # at the bars' 100.00 / 100.01 the sellers and buyers of every minute fill it at once
    assert one_minute_both(report)["tape"]["amount_share"] == 1.0


def test_the_table_names_the_horizons_and_the_fits(tmp_path: Path) -> None:
    trades, bars = write_steady_market(tmp_path)
    code, output = sim_fills("--trades", str(trades), "--bars", str(bars), "--horizon-min", "1",
                             "--horizon-min", "2")
    assert code == 0, output
    for words in ("1 min", "2 min", "fitted max_volume_share", "out of reach", "test"):
        assert words in output


@pytest.mark.parametrize(("content", "says"), [
    (None, "no such file"),
    ("timestamp_ms,price,amount\n1,1.0,1\n", "missing column(s) side"),
    ("timestamp_ms,trade_id,price,amount,side\n", "no rows"),
    ("timestamp_ms,trade_id,price,amount,side\n1,1,1.0,1,up\n", "buy or sell"),
])
def test_bad_tapes_are_refused_with_what_to_fix(tmp_path: Path, content: str | None,
                                                says: str) -> None:
    trades = tmp_path / "AAA_BBB-trades.csv"
    if content is not None:
        trades.write_text(content)
    code, output = sim_fills("--trades", str(trades), "--json")
    assert code == 2
    answer = json.loads(output.splitlines()[0])
    assert answer["ok"] is False and says in answer["error"]


def test_a_tape_shorter_than_the_horizon_is_refused(tmp_path: Path) -> None:
    trades, _ = write_steady_market(tmp_path, minutes=3)
    assert "shorter --horizon-min" in sim_fills_error("--trades", str(trades),
                                                      "--horizon-min", "5")


def test_bars_missing_for_the_pair_are_refused(tmp_path: Path) -> None:
    trades, _ = write_steady_market(tmp_path)
    assert "AAA_BBB-1m.csv" in sim_fills_error("--trades", str(trades), "--bars", str(tmp_path))


def test_the_report_says_which_spread_and_through_rule_it_used(tmp_path: Path) -> None:
    trades, bars = write_steady_market(tmp_path)
    code, output = sim_fills("--trades", str(trades), "--bars", str(bars), "--json")
    assert code == 0, output
    report = json.loads(output)
    # 20 bars are too few to estimate a spread: the one-tick floor, said as 0 bps
    assert (report["spread_from"], report["model_spread_bps"], report["through"]) == (
        "estimated", 0.0, "volume")
    code, output = sim_fills("--trades", str(trades), "--spread", "fixed", "--through", "whole",
                             "--json")
    report = json.loads(output)
    assert (report["spread_from"], report["model_spread_bps"], report["through"]) == (
        "fixed", None, "whole")
    code, output = sim_fills("--trades", str(trades), "--spread", "fixed")
    assert code == 0 and "one tick (fixed)" in output and "by all of it" not in output


@pytest.mark.parametrize(("option", "value"), [("--spread", "quoted"), ("--through", "all")])
def test_an_unknown_spread_or_through_rule_is_refused_naming_the_option(
        tmp_path: Path, option: str, value: str) -> None:
    trades, _ = write_steady_market(tmp_path)
    assert option in sim_fills_error("--trades", str(trades), option, value)


def test_on_the_tapes_ticks_the_model_meets_each_trade_at_the_known_touch(
        tmp_path: Path) -> None:
    trades, _ = write_steady_market(tmp_path)
    code, output = sim_fills("--trades", str(trades), "--amount", "5", "--events", "ticks",
                             "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["events"] == "ticks"
    row = one_minute_both(report)
    assert row["tape"]["amount_share"] == 1.0
    # each minute's 10 at the order's price, under the 10 % passive cap: 1 of 5
    assert row["model"]["amount_share"] == pytest.approx(0.2)
    (fit,) = report["fits"]  # the bars' queue share has no part on ticks
    assert fit["parameter"] == "max_volume_share" and fit["reached"]
    assert fit["value"] == pytest.approx(0.5, rel=1e-3)
    assert row["fitted"]["max_volume_share"]["gap"] == pytest.approx(0.0)


def test_ticks_with_at_bar_open_or_unknown_events_are_refused(tmp_path: Path) -> None:
    trades, _ = write_steady_market(tmp_path)
    assert "one or the other" in sim_fills_error("--trades", str(trades), "--events", "ticks",
                                                 "--at-bar-open")
    assert "bars, ticks" in sim_fills_error("--trades", str(trades), "--events", "quotes")
