"""Crash test: the live daemon, SIGKILLed at 20+ random moments, loses and duplicates nothing.

The simulated exchange runs in its own process (`python -m bot.app.chaos_server`) with one
funded account; it delays every order acknowledgement by 0.25 s after accepting the order,
so "sent but not acknowledged" is a window a kill can land in. The daemon is the real
`entasis run --confirm-live` (mode = "live", real ccxt client over 127.0.0.1). Each round
starts it and SIGKILLs it either at a random moment (during start-up, reconciliation,
backfill or trading) or right when the ledger holds an order recorded as sent and not yet
acknowledged. Every restart reconciles (state/recovery.py) before trading.

At the end the market is frozen, the daemon restarts once more and stops cleanly, and the
account is audited against the ledger: every exchange order is in the ledger with the same
status and filled amount, no client id exists twice on the exchange, every fill is in the
ledger exactly once, and every balance and position is equal to the last digit. The risk
limits are the defaults: no daily-loss or drawdown breaker may fire (a fill the exchange made
but the daemon has not booked yet must not look like a loss; ADR-029).

Counts (kills, restarts, orders, fills, mismatches) go to the terminal summary whatever
pytest's capture mode (tests/integration/conftest.py), and are asserted on.
"""

from __future__ import annotations

import random
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.liverig import (
    audit,
    daemon_config,
    start_daemon,
    start_exchange,
    submitted_orders,
)

KILLS = 20
WINDOW_KILLS = 8  # of which this many between recording an order as sent and its ack
SEED = 20261123
SIM_ARGS = ("--coins", "16", "--speed", "300", "--history-days", "1.2", "--seed", "5",
            "--ack-delay-s", "0.25")
# A breaker trip as the daemon logs it (trading/trader.py): with equity from one consistent
# snapshot (ADR-029) the default breakers must not fire on fills in flight.
_BREAKER = re.compile(r"trading state \w+ -> \w+: (daily loss|drawdown)")
_RECONCILED = re.compile(r"reconciliation recorded \d+ event\(s\): (\d+) adopted, (\d+) lost, "
                         r"(\d+) fills, (\d+) closed")


@pytest.mark.slow
@pytest.mark.timeout(170)
def test_live_daemon_killed_at_random_moments_loses_and_duplicates_nothing(
        tmp_path: Path, counts_summary: Callable[[str], None]) -> None:
    rng = random.Random(SEED)
    exchange, port = start_exchange(*SIM_ARGS)
    config = daemon_config(tmp_path / "config.toml", port)
    ledger = tmp_path / "var" / "ledger.sqlite"
    kills = in_window = restarts = 0
    adopted = lost = recovered_fills = closed = 0
    breaker_trips: list[str] = []
    started = time.monotonic()
    moments = ["sent"] * WINDOW_KILLS + ["random"] * (KILLS - WINDOW_KILLS)
    rng.shuffle(moments)
    try:
        for round_, moment in enumerate(moments):
            left_over = submitted_orders(ledger)  # the last round's: reconciliation's job
            daemon = start_daemon(config)
            restarts += round_ > 0
            if moment == "sent":  # the n-th new order recorded as sent; acks take >= 0.25 s
                nth, deadline = rng.randint(1, 4), time.monotonic() + 12
                sent: set[str] = set()
                while len(sent) < nth and time.monotonic() < deadline:
                    assert daemon.alive(), daemon.tail()
                    waiting = submitted_orders(ledger) - left_over
                    sent |= waiting
                    time.sleep(0.01)
                in_window += bool(waiting)
                time.sleep(rng.uniform(0.0, 0.35))  # before, or after, it left for the exchange
            else:  # anywhere: imports, reconciliation, backfill, trading
                time.sleep(rng.uniform(0.3, 5.5))
            assert daemon.alive(), f"daemon died by itself in round {round_}:\n{daemon.tail()}"
            daemon.kill9()
            kills += 1
            for line in daemon.lines:
                if found := _RECONCILED.search(line):
                    a, lo, f, c = map(int, found.groups())
                    adopted, lost, recovered_fills, closed = (
                        adopted + a, lost + lo, recovered_fills + f, closed + c)
                if _BREAKER.search(line):
                    breaker_trips.append(line)
                assert "Traceback" not in line, daemon.tail(80)

        exchange.popen.send_signal(signal.SIGUSR1)  # freeze the market: nothing moves now
        time.sleep(0.3)
        daemon = start_daemon(config)
        restarts += 1
        daemon.wait_for(r"feed connection 0 up", 60)
        time.sleep(2.0)  # the broker adopts what the ledger has open and settles it
        assert daemon.interrupt() == 0, daemon.tail(80)
        assert "Traceback" not in "\n".join(daemon.lines), daemon.tail(80)
        breaker_trips += [line for line in daemon.lines if _BREAKER.search(line)]
        result = audit(port, ledger)
    finally:
        exchange.interrupt()
    elapsed = time.monotonic() - started

    counts_summary(
        f"crash test (live daemon vs sim process): kills={kills} (in the sent-not-acked "
        f"window: {in_window}) restarts={restarts} orders={result.ledger_orders} "
        f"(exchange {result.exchange_orders}) fills={result.ledger_fills} (exchange "
        f"{result.exchange_fills}) reconciled: adopted={adopted} lost={lost} "
        f"fills={recovered_fills} closed={closed} breaker_trips={len(breaker_trips)} "
        f"mismatches={len(result.mismatches)} "
        f"in {elapsed:.0f} s")
    assert kills >= 20 and restarts == kills
    assert in_window >= WINDOW_KILLS - 2, "too few kills landed between an order's send and ack"
    assert result.exchange_orders >= 10 and result.exchange_fills >= 3, "too little trading"
    assert result.mismatches == [], "\n".join(result.mismatches[:20])
    assert breaker_trips == [], "default breakers fired:\n" + "\n".join(breaker_trips[:5])
