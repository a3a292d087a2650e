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


@pytest.mark.parametrize("corrupted", [False, True])
def test_minutes_whose_tickers_come_as_arrays_end_in_the_wire_paths_state(
        corrupted: bool) -> None:
    """With `on_tick_arrays` the usual minute is delivered in one call and closed from its
    last tick (`MarketState.close_after_last_tick`); its market state still ends where the
    wire path's does (the clock a callback reads is the arrays' last time, not each)."""
    wire = [entry for entry in states(False, corrupted, all_tickers=True)
            if entry[0] == "state"]
    arrays = [entry for entry in states(True, corrupted, all_tickers=True,
                                        on_tick_arrays=lambda _: None)
              if entry[0] == "state"]
    assert len(arrays) == len(wire) == 12
    assert arrays == wire


def test_closing_after_the_last_tick_is_applying_it_then_closing() -> None:
    sources = generated()(), generated()()  # the same market twice
    leaned, stepped = (ReplayFeed(source, direct=True, on_tick=print, on_bar=print)._player
                       for source in sources)
    for _ in range(8):
        lean_data, data = (source.advance() for source in sources)
        assert data is not None and lean_data is not None
        leaned.begin(lean_data)
        stepped.begin(data)
        stepped.move_to(data, len(data.ticks.ts_event) - 1)
        assert stepped.finish(data) == leaned.finish_from_last_tick(lean_data)
        assert stepped.now_ms == leaned.now_ms
        for name in STATE:
            assert (np.asarray(getattr(leaned.state, name)).tobytes()
                    == np.asarray(getattr(stepped.state, name)).tobytes()), name
