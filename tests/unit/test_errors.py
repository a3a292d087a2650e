"""Every product exception is an `EntasisError` on exactly one branch (model/errors.py), and a
loop steers by that branch: it retries a `TemporaryError` and stops on anything else."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from exchange.feeds.errors import ExchangeBusy, ExchangeError, ExchangeRefused, exchange_error
from exchange.feeds.stream_base import StreamFeedBase
from model.errors import BRANCHES, EntasisError, OperatorError, TemporaryError
from tests.import_graph import product_modules

#: Bases that are never raised themselves: each subclass sits on one branch of its own.
FAMILIES = {ExchangeError}


def product_exceptions() -> Iterator[type[BaseException]]:
    """Public exception classes defined in any product module (private ones, `_Refused` and
    the like, are control flow inside one module and never reach a loop)."""
    for name in product_modules():
        if name.endswith("__main__") or name == "model.errors":  # the root and branches
            continue
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == name and not attribute.startswith("_")):
                yield value


def test_every_product_exception_derives_from_the_root_and_one_branch() -> None:
    found = list(product_exceptions())
    assert len(found) >= 25  # the walk really imported the product
    misplaced = []
    for cls in found:
        branches = [branch.__name__ for branch in BRANCHES if issubclass(cls, branch)]
        expected = 0 if cls in FAMILIES else 1
        if not issubclass(cls, EntasisError) or len(branches) != expected:
            misplaced.append(f"{cls.__module__}.{cls.__qualname__}: branches {branches}")
    assert misplaced == []


def test_exchange_errors_are_split_by_whether_a_retry_can_help() -> None:
    for status, code in ((500, 0), (503, 0), (429, 0), (418, 0), (400, -1003)):
        assert isinstance(exchange_error(status, code, "busy"), ExchangeBusy)
    for status, code in ((400, -1121), (401, -2015), (404, 0)):
        error = exchange_error(status, code, "refused")
        assert isinstance(error, ExchangeRefused) and isinstance(error, OperatorError)
        assert not isinstance(error, TemporaryError)


@dataclass
class _Settings:
    stale_after_s: float = 5.0
    backfill_minutes: int = 0
    reconnect_min_s: float = 0.001
    reconnect_max_s: float = 0.002
    ping_interval_s: float = 20.0


class _Feed(StreamFeedBase):
    """Just enough of a feed to run the shared REST retry loop."""

    def __init__(self) -> None:
        self._config = _Settings()
        self._random = random.Random(1)


def _retry(failures: list[Exception]) -> tuple[object, int]:
    """Run `_retrying` on an action that raises `failures` in turn, then answers "done"."""
    calls = [0]

    async def action() -> str:
        calls[0] += 1
        if failures:
            raise failures.pop(0)
        return "done"

    result = asyncio.run(_Feed()._retrying("backfill", action))
    return result, calls[0]


def test_the_feed_retries_a_temporary_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        result = _retry([exchange_error(429, -1003, "Too many requests"),
                         exchange_error(503, 0, "Service Unavailable")])
    assert result == ("done", 3)
    assert "backfill failed" in caplog.text


def test_the_feed_stops_on_a_permanent_error() -> None:
    refused = exchange_error(400, -1121, "Invalid symbol.")
    with pytest.raises(ExchangeRefused) as raised:
        _retry([refused])
    assert raised.value is refused
