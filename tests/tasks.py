"""Running a coroutine in the background for the length of a test block."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Protocol


class Runnable(Protocol):
    def run(self) -> Coroutine[Any, Any, Any]: ...


@contextlib.asynccontextmanager
async def background(coroutine: Coroutine[Any, Any, Any]) -> AsyncIterator[asyncio.Task[Any]]:
    """The coroutine as a task while the block runs; cancelled and awaited after it."""
    task = asyncio.create_task(coroutine)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def running(feed: Runnable) -> contextlib.AbstractAsyncContextManager[asyncio.Task[Any]]:
    """A feed (anything with `run()`) running for the block."""
    return background(feed.run())
