"""Every fill is one INFO line in the daemon's log: side, amount, symbol, price, fee,
liquidity and order id, on the instrument's grid (lot for amounts, tick for prices, tick x
lot for the fee), never in scientific notation. Backtests, built without the daemon's
operator options, log no fills.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from pathlib import Path

import pytest

from model.instruments import Instrument, Side
from model.orders import Filled, Liquidity, PartiallyFilled
from tests.ops_runtime import BUY_MINUTE, make_runtime
from trading.operator import fill_line

BTC = Instrument("BTCUSDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), Decimal(5))
KRW_BTC = Instrument("KRW-BTC", "BTC", "KRW", Decimal(1000), Decimal("0.00000001"),
                     Decimal(5000))


def filled(symbol: str, price: str, amount: str, fee: str, *, final: bool = True,
           side: Side = Side.BUY) -> Filled | PartiallyFilled:
    if final:
        return Filled("p-000007", symbol, side, "t-1", Decimal(price), Decimal(amount),
                      Decimal(fee), Liquidity.MAKER, 0, 0)
    return PartiallyFilled("p-000007", symbol, side, "t-1", Decimal(price), Decimal(amount),
                           Decimal(fee), Liquidity.TAKER, Decimal(1), 0, 0)


@pytest.mark.parametrize(("fill", "instrument", "line"), [
    (filled("BTCUSDT", "43250.1", "0.0120000", "0.519001200"), BTC,
     "fill: BUY 0.01200 BTCUSDT @ 43250.10 USDT fee 0.5190012 USDT maker order p-000007"),
    (filled("BTCUSDT", "43250.10", "0.5", "0", final=False, side=Side.SELL), BTC,
     ("partial fill: SELL 0.50000 BTCUSDT @ 43250.10 USDT fee 0.0000000 USDT taker order "
     "p-000007")),
    (filled("KRW-BTC", "5.0E+7", "0.001", "25.0"), KRW_BTC,
     "fill: BUY 0.00100000 KRW-BTC @ 50000000 KRW fee 25.00000 KRW maker order p-000007"),
    (filled("ABCUSDT", "1.5", "2", "0.003"), None,  # no rules known: shown as recorded
     "fill: BUY 2 ABCUSDT @ 1.5 fee 0.003 maker order p-000007"),
])
def test_a_fill_is_one_line_on_the_instruments_grid(fill, instrument, line: str) -> None:
    assert fill_line(fill, instrument) == line


def test_the_daemon_logs_each_fill_at_info_and_a_backtest_does_not(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    minutes = BUY_MINUTE + 13  # buys AAA, BBB, CCC; sells AAA (minute 130) and BBB (131)
    with caplog.at_level(logging.INFO, logger="trading.operator"):
        backtest = make_runtime(tmp_path / "backtest", minutes=minutes)
        assert backtest.trader is not None and backtest.trader.fills == 5
        # built without the daemon's operator options: quiet
        assert not [r for r in caplog.records if r.name == "trading.operator"]
        make_runtime(tmp_path / "daemon", minutes=minutes, operator=True)

    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("fill: ")]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "trading.operator")
    assert [tuple(line.split()[1:4:2]) for line in lines] == [
        ("BUY", "AAAUSDT"), ("BUY", "BBBUSDT"), ("BUY", "CCCUSDT"),
        ("SELL", "AAAUSDT"), ("SELL", "BBBUSDT")]
    for line in lines:  # lot 0.001, tick 0.01: 3 decimals, 2, and 5 for the fee
        assert re.fullmatch(r"fill: (BUY|SELL) \d+\.\d{3} [A-Z]+ @ \d+\.\d{2} USDT fee "
                            r"\d+\.\d{5} USDT (maker|taker) order \S+", line), line
