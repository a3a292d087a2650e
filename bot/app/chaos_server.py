"""`python -m bot.app.chaos_server`: the simulated exchange in its own process, one funded
account, and the chaos asked for on the command line (exchange/sim/chaos.py). The live crash
test runs the exchange this way so that killing the daemon leaves the exchange running.

Prints `READY <port>` once serving; on SIGTERM/SIGINT stops and prints the chaos counters as
one JSON line. SIGUSR1 freezes the market (the crash test's settle step).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from dataclasses import asdict
from decimal import Decimal

from exchange.sim.auth import ApiCredentials
from exchange.sim.chaos import Chaos, ChaosConfig, ChaosCounts
from exchange.sim.server import SimExchange


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m exchange.sim.chaos", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--coins", type=int, default=8)
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--history-days", type=float, default=1.0)
    parser.add_argument("--balance", default="10000", help="USDT in the account")
    parser.add_argument("--quote", default="USDT")
    for name in ChaosConfig.__dataclass_fields__:
        if name not in ("seed", "rest_error_statuses"):
            parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=0.0)
    return parser.parse_args(argv)


async def serve_account_with_chaos(args: argparse.Namespace) -> ChaosCounts:
    """Run the sim with one account (keys from ENTASIS_SIM_API_KEY / _SECRET, never argv)
    and the chaos asked for, until SIGTERM/SIGINT."""
    from bot.config import SimConfig
    sim = SimExchange(SimConfig(port=args.port, seed=args.seed, coins=args.coins,
                                speed=args.speed, history_days=args.history_days))
    chaos = Chaos(sim, ChaosConfig(
        seed=args.seed, drop_every_s=args.drop_every_s, malformed_share=args.malformed_share,
        stall_every_s=args.stall_every_s, stall_s=args.stall_s,
        rest_error_share=args.rest_error_share, ack_delay_s=args.ack_delay_s,
        user_malformed_share=args.user_malformed_share))
    key, secret = os.environ["ENTASIS_SIM_API_KEY"], os.environ["ENTASIS_SIM_API_SECRET"]
    sim.orders.open_account(ApiCredentials(key, secret), {args.quote: Decimal(args.balance)})
    await sim.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, chaos.freeze_market)  # crash test: settle
    print(f"READY {sim.port}", flush=True)
    runner = asyncio.create_task(chaos.run())
    try:
        await stop.wait()
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await sim.stop()
    return chaos.counts


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bot.app.chaos_server`."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    counts = asyncio.run(serve_account_with_chaos(args))
    print(json.dumps(asdict(counts)), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
