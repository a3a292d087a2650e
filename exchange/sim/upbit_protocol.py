"""Upbit wire payloads, in the shapes of the recorded frames and REST answers
(../shared/data/protocol/upbit): websocket messages in SIMPLE form (the DEFAULT form is the
same with full names, `exchange.feeds.upbit_parse.to_default`), REST bodies with full names;
numbers are JSON numbers, times epoch ms, candle times ISO strings without a zone.

Pure functions from the simulator's values to JSON-ready dicts; no I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from exchange.sim.state import TickerStats
from model.instruments import Instrument
from model.market import MINUTE_MS

KST = timezone(timedelta(hours=9))
BOOK_LEVELS = 5  # the sim has top-of-book only; deeper levels step one tick each


def clean(value: Any) -> Any:
    """Floats rounded to 8 decimals, recursively: Upbit prints short decimals, not the
    binary noise of the simulator's arithmetic (30167.190000000002)."""
    if isinstance(value, float):
        return round(value, 8)
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def market_code(instrument: Instrument) -> str:
    """Upbit names markets QUOTE-BASE: BTCKRW -> KRW-BTC."""
    return f"{instrument.quote}-{instrument.base}"


def _when(ts_ms: int, zone: timezone) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=zone)


def _change(last: float, prev_close: float) -> dict[str, Any]:
    diff = last - prev_close
    rate = diff / prev_close if prev_close else 0.0
    word = "RISE" if diff > 0 else "FALL" if diff < 0 else "EVEN"
    return {"c": word, "cp": abs(diff), "scp": diff, "cr": abs(rate), "scr": rate}


# -- websocket (SIMPLE) ---------------------------------------------------------------------
def ws_ticker(code: str, stats: TickerStats, side: str) -> dict[str, Any]:
    """A `ticker` message. The sim's day is its rolling 24h window (acc_* = acc_*_24h)."""
    when = _when(stats.close_ms, UTC)
    return {
        "ty": "ticker", "cd": code, "op": stats.open, "hp": stats.high, "lp": stats.low,
        "tp": stats.last, "pcp": stats.prev_close, **_change(stats.last, stats.prev_close),
        "tv": stats.last_qty, "atv": stats.volume, "atv24h": stats.volume,
        "atp": stats.quote_volume, "atp24h": stats.quote_volume,
        "tdt": when.strftime("%Y%m%d"), "ttm": when.strftime("%H%M%S"),
        "ttms": stats.close_ms, "ab": side, "aav": stats.volume / 2, "abv": stats.volume / 2,
        "ms": "ACTIVE", "tms": stats.close_ms, "st": "REALTIME",
    }  # fmt: skip


def ws_trade(
    code: str, ts_ms: int, price: float, volume: float, side: str, prev_close: float,
    sequential_id: int, book: tuple[float, float, float, float],
) -> dict[str, Any]:
    """A `trade` message; `book` is (bid, bid_qty, ask, ask_qty) right after the trade."""
    when = _when(ts_ms, UTC)
    change = _change(price, prev_close)
    bid, bid_qty, ask, ask_qty = book
    return {
        "ty": "trade", "cd": code, "tms": ts_ms, "td": when.strftime("%Y-%m-%d"),
        "ttm": when.strftime("%H:%M:%S"), "ttms": ts_ms, "tp": price, "tv": volume, "ab": side,
        "pcp": prev_close, "c": change["c"], "cp": change["cp"], "sid": sequential_id,
        "bap": ask, "bas": ask_qty, "bbp": bid, "bbs": bid_qty, "st": "REALTIME",
    }  # fmt: skip


def ws_orderbook(
    code: str, ts_ms: int, bid: float, bid_qty: float, ask: float, ask_qty: float, tick: float
) -> dict[str, Any]:
    """An `orderbook` message: the sim's top of book, then levels one tick apart."""
    units = []
    for level in range(BOOK_LEVELS):
        scale = 1.0 + level * 0.5
        bid_price = bid - level * tick
        units.append({
            "ap": round(ask + level * tick, 10), "bp": round(bid_price, 10) if bid_price > 0 else tick,
            "as": ask_qty * scale, "bs": bid_qty * scale,
        })  # fmt: skip
    return {
        "ty": "orderbook", "cd": code, "tms": ts_ms,
        "tas": sum(u["as"] for u in units), "tbs": sum(u["bs"] for u in units),
        "obu": units, "st": "REALTIME", "lv": 0,
    }  # fmt: skip


def ws_error(name: str, message: str) -> dict[str, Any]:
    """Upbit's websocket error message."""
    return {"error": {"name": name, "message": message}}


# -- REST -----------------------------------------------------------------------------------
def rest_market(instrument: Instrument, details: bool) -> dict[str, Any]:
    """One `/v1/market/all` entry."""
    entry: dict[str, Any] = {
        "market": market_code(instrument),
        "korean_name": instrument.base,
        "english_name": instrument.base,
    }
    if details:
        entry["market_warning"] = "NONE"
    return entry


def rest_ticker(code: str, stats: TickerStats) -> dict[str, Any]:
    """One `/v1/ticker` entry (full field names)."""
    when_utc, when_kst = _when(stats.close_ms, UTC), _when(stats.close_ms, KST)
    change = _change(stats.last, stats.prev_close)
    return {
        "market": code,
        "trade_date": when_utc.strftime("%Y%m%d"), "trade_time": when_utc.strftime("%H%M%S"),
        "trade_date_kst": when_kst.strftime("%Y%m%d"), "trade_time_kst": when_kst.strftime("%H%M%S"),
        "trade_timestamp": stats.close_ms, "opening_price": stats.open,
        "high_price": stats.high, "low_price": stats.low, "trade_price": stats.last,
        "prev_closing_price": stats.prev_close, "change": change["c"],
        "change_price": change["cp"], "change_rate": change["cr"],
        "signed_change_price": change["scp"], "signed_change_rate": change["scr"],
        "trade_volume": stats.last_qty, "acc_trade_price": stats.quote_volume,
        "acc_trade_price_24h": stats.quote_volume, "acc_trade_volume": stats.volume,
        "acc_trade_volume_24h": stats.volume, "timestamp": stats.close_ms,
    }  # fmt: skip


def rest_candle(
    code: str, open_ms: int, o: float, h: float, low: float, c: float, volume: float,
    quote_volume: float,
) -> dict[str, Any]:
    """One `/v1/candles/minutes/1` entry (as in the recorded smtm responses)."""
    return {
        "market": code,
        "candle_date_time_utc": _when(open_ms, UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "candle_date_time_kst": _when(open_ms, KST).strftime("%Y-%m-%dT%H:%M:%S"),
        "opening_price": o, "high_price": h, "low_price": low, "trade_price": c,
        "timestamp": open_ms + MINUTE_MS - 1, "candle_acc_trade_price": quote_volume,
        "candle_acc_trade_volume": volume, "unit": 1,
    }  # fmt: skip


def rest_error(name: str | int, message: str) -> dict[str, Any]:
    """Upbit's REST error body."""
    return {"error": {"name": name, "message": message}}
