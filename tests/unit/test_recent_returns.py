"""FeatureBook.recent_returns: the simple 1m returns behind portfolio VaR/ES.

A day of returns is read every decision step, from a ring of simple returns written as each
bar arrives; a warm book (every symbol has every wanted minute) skips the mask. Either way
the rows are the returns of the closes, oldest first, NaN where a symbol had no data yet.
"""

from __future__ import annotations

import numpy as np

from model.market import MINUTE_MS, Bar
from strategies.features import FeatureBook

SYMBOLS = ["AAAUSDT", "BBBUSDT", "CCCUSDT"]


def _bar(symbol: str, minute: int, close: float) -> Bar:
    return Bar(symbol, minute * MINUTE_MS, close, close * 1.001, close * 0.999, close, 2.0,
               2.0 * close, 5)


def _walk(minutes: int, listed: dict[str, int]) -> tuple[FeatureBook, dict[str, list[float]]]:
    """A book fed `minutes` of random-walk closes; each symbol from its `listed` minute."""
    rng = np.random.default_rng(4)
    book = FeatureBook(SYMBOLS)
    closes: dict[str, list[float]] = {s: [] for s in SYMBOLS}
    for minute in range(minutes):
        bars = []
        for symbol in SYMBOLS:
            if minute < listed.get(symbol, 0):
                continue
            last = closes[symbol][-1] if closes[symbol] else 10.0
            closes[symbol].append(last * float(np.exp(rng.normal(0.0, 0.003))))
            bars.append(_bar(symbol, minute, closes[symbol][-1]))
        book.on_bars(bars)
        book.advance_to(minute * MINUTE_MS)
    return book, closes


def _expected(closes: list[float], minutes: int, total: int) -> np.ndarray:
    """The last `minutes` simple returns of a symbol listed `total - len(closes)` minutes in."""
    returns = np.full(total, np.nan)
    series = np.asarray(closes)
    returns[total - len(series) + 1:] = series[1:] / series[:-1] - 1.0
    return returns[-minutes:]


def test_a_warm_book_gives_every_symbols_returns_oldest_first() -> None:
    book, closes = _walk(1600, {})
    returns = book.recent_returns(1440)
    assert returns.shape == (1440, 3) and returns.flags.c_contiguous
    for j, symbol in enumerate(SYMBOLS):
        np.testing.assert_allclose(returns[:, j], _expected(closes[symbol], 1440, 1600),
                                   rtol=1e-12)


def test_a_symbol_listed_within_the_window_is_nan_before_its_second_bar() -> None:
    book, closes = _walk(1600, {"BBBUSDT": 1000})
    returns = book.recent_returns(1440)
    late = returns[:, 1]
    first_return = 1000 + 1 - (1600 - 1440)  # row of its first return
    assert np.isnan(late[:first_return]).all() and np.isfinite(late[first_return:]).all()
    np.testing.assert_allclose(late, _expected(closes["BBBUSDT"], 1440, 1600), rtol=1e-12)
    np.testing.assert_allclose(returns[:, 0], _expected(closes["AAAUSDT"], 1440, 1600),
                               rtol=1e-12)
