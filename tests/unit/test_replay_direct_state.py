"""The replay feed's direct path leaves the simulated market where the wire path does.

The direct path applies a minute's ticks to the market state only when a frame is built
from it (a refused one) and at the close (exchange/feeds/replay_direct.py); the clock still
moves instant by instant. After every minute the state must equal the wire path's, array by
array, and a callback must read the same feed clock either way."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from exchange.feeds.replay import ReplayFeed
from tests.unit.test_replay_direct import Corrupted, generated

STATE = ("ts_ms", "last", "last_qty", "bid", "ask", "bid_qty", "ask_qty", "_run_high",
         "_run_low", "_done", "_tick_index")


def states(direct: bool, corrupted: bool, **options: Any) -> list[Any]:
    """The feed clock seen by each callback, then each minute's market state, in order."""
    source = generated()()
    seen: list[Any] = []
    feed: ReplayFeed | None = None

    def clock(_: object) -> None:
        assert feed is not None
        seen.append(("clock", feed.now_ms))

    feed = ReplayFeed(Corrupted(source) if corrupted else source, direct=direct,
                      on_tick=clock, on_bar=clock, on_tick_batch=clock, **options)
    feed.backfill(30)
    for _ in range(12):
        feed.play_minute()
        state = feed._player.state
        seen.append(("state", feed.now_ms, tuple(np.asarray(getattr(state, name)).tobytes()
                                                for name in STATE)))
    return seen


@pytest.mark.parametrize("corrupted", [False, True])
@pytest.mark.parametrize("options", [{"all_tickers": True}, {"all_tickers": False}])
def test_every_minute_ends_in_the_state_the_wire_path_leaves(corrupted: bool,
                                                             options: dict[str, Any]) -> None:
    wire = states(False, corrupted, **options)
    direct = states(True, corrupted, **options)
    assert len(direct) == len(wire) > 12
    assert direct == wire
