"""Reading Binance user-data-stream frames: exact amounts, the three framings, and a clear
reason for every frame that cannot be read (table-driven)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest

from exchange.brokers.user_stream_events import (
    BalanceUpdate,
    ExecutionUpdate,
    MalformedFrame,
    StreamExpired,
    parse_user_frame,
)

RECV_MS = 1_700_000_000_500


def report(**changes: Any) -> dict[str, Any]:
    """A TRADE executionReport as Binance's spot user data stream documents it."""
    event = {
        "e": "executionReport", "E": 1_700_000_000_123, "s": "BTCUSDT", "c": "Labc123-00000007",
        "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "0.05000000", "p": "30000.01000000",
        "P": "0.00000000", "F": "0.00000000", "g": -1, "C": "", "x": "TRADE",
        "X": "PARTIALLY_FILLED", "r": "NONE", "i": 4242, "l": "0.00171000",
        "z": "0.00262000", "L": "30000.01000000", "n": "0.05130002", "N": "USDT",
        "T": 1_700_000_000_120, "t": 977, "I": 1, "w": False, "m": True, "M": True,
        "O": 1_700_000_000_000, "Z": "78.60002620", "Y": "51.30001710", "Q": "0.00000000",
    }
    event.update(changes)
    return event


def frame(payload: Any) -> bytes:
    return orjson.dumps(payload)


def test_trade_report_keeps_exact_decimals_and_the_trade_id() -> None:
    update = parse_user_frame(frame(report()), RECV_MS)
    assert update == ExecutionUpdate(
        symbol="BTCUSDT", client_order_id="Labc123-00000007", exchange_order_id="4242",
        execution="TRADE", status="PARTIALLY_FILLED", trade_id="977",
        last_qty=Decimal("0.00171000"), last_price=Decimal("30000.01000000"),
        commission=Decimal("0.05130002"), commission_asset="USDT", maker=True,
        cum_qty=Decimal("0.00262000"), ts_event=1_700_000_000_120, ts_recv=RECV_MS)
    assert update.is_trade and not update.is_terminal
    trade = update.as_ccxt_trade()
    assert (trade["id"], trade["amount"], trade["takerOrMaker"]) == ("977", Decimal("0.00171"),
                                                                     "maker")


def test_cancel_report_names_the_canceled_order_not_the_cancel_request() -> None:
    update = parse_user_frame(frame(report(x="CANCELED", X="CANCELED", c="cancel-4242",
                                           C="Labc123-00000007", t=-1, l="0.00000000")), RECV_MS)
    assert isinstance(update, ExecutionUpdate)
    assert update.client_order_id == "Labc123-00000007"
    assert update.is_terminal and not update.is_trade and update.trade_id is None


@pytest.mark.parametrize("wrapper", ["bare", "ws-api", "combined"])
def test_every_framing_reads_the_same(wrapper: str) -> None:
    event = report()
    payload = {"bare": event, "ws-api": {"subscriptionId": 0, "event": event},
               "combined": {"stream": "abc", "data": event}}[wrapper]
    assert parse_user_frame(frame(payload), RECV_MS) == parse_user_frame(frame(event), RECV_MS)


def test_account_position_gives_free_and_locked_per_asset() -> None:
    payload = {"e": "outboundAccountPosition", "E": 5, "u": 5,
               "B": [{"a": "USDT", "f": "9921.39997380", "l": "0.00000000"},
                     {"a": "BTC", "f": "0.00262000", "l": "0.00000000"}]}
    assert parse_user_frame(frame(payload), RECV_MS) == BalanceUpdate(
        (("USDT", Decimal("9921.39997380"), Decimal(0)), ("BTC", Decimal("0.00262"), Decimal(0))),
        5)


def test_expiry_ends_the_subscription_and_unused_events_are_skipped() -> None:
    assert parse_user_frame(b'{"e":"listenKeyExpired","E":1,"listenKey":"x"}', 0) == \
        StreamExpired("listenKeyExpired")
    assert parse_user_frame(frame({"subscriptionId": 3, "event": {
        "e": "eventStreamTerminated", "E": 1}}), 0) == StreamExpired("eventStreamTerminated")
    assert parse_user_frame(b'{"e":"balanceUpdate","E":1,"a":"BTC","d":"1.0","T":1}', 0) is None


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"e":"executionReport","s":', "not JSON"),
    (b"42", "expected an object, got int"),
    (b'{"e":"somethingNew"}', "unknown event type 'somethingNew'"),
    (frame(report(t=-1)), "TRADE without a trade id"),
    (frame(report(t=True)), "TRADE without a trade id"),
    (frame(report(l="NaN")), "field 'l' is not a finite non-negative number"),
    (frame(report(z="-1")), "field 'z' is not a finite non-negative number"),
    (frame(report(L=30000.01)), "field 'L' missing or not a decimal string"),
    (frame(report(L="abc")), "field 'L' is not a number"),
    (frame(report(X=None)), "field 'X' missing or not text"),
    (frame(report(i="4242")), "field 'i' missing or not an integer"),
    (frame({"e": "outboundAccountPosition", "E": 1, "B": "USDT"}), "without a balance list"),
    (frame({"e": "outboundAccountPosition", "E": 1, "B": [1]}), "row is not an object"),
])
def test_malformed_frames_say_what_is_wrong(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedFrame) as caught:
        parse_user_frame(raw, RECV_MS)
    assert reason in caught.value.reason
