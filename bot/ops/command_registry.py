"""The command registry: how an operator command is declared, checked and called.

`@command` registers a plain function `(runtime, **args) -> dict`; `CommandLayer.call` finds
it, coerces its JSON arguments once for every surface (control endpoint, CLI, Telegram) and
turns an `OperatorError` into a `CommandError`. The commands themselves live in
bot/ops/commands.py and bot/ops/commands_report.py, which both import this module (and not each
other), so the registry has no cycle.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from model import errors
from trading.notices import Notifier
from trading.operator import OperatorError

if TYPE_CHECKING:
    from bot.config import Config
    from state.ledger import Ledger
    from trading.engine import Engine
    from trading.trader import Trader

log = logging.getLogger("bot.ops.commands")


class CommandError(errors.OperatorError):
    """A command that cannot run as asked; the message says what to do instead."""

    status = 400


class UnknownCommand(CommandError):
    """No command of that name."""

    status = 404


class NotReady(CommandError):
    """The daemon is still starting (the trader does not exist yet)."""

    status = 503


class Runtime(Protocol):
    """What the commands read and drive: `bot.app.daemon.Daemon` (or a test's stand-in)."""

    config: Config
    config_path: Path | None
    trader: Trader | None
    ledger: Ledger | None
    engine: Engine | None
    feed: Any  # has .health() -> FeedHealth
    notifier: Notifier
    started_wall: float

    def now_ms(self) -> int:
        """The market clock (the sim's, or the wall clock), epoch ms."""

    def request_stop(self, reason: str) -> None:
        """Shut the daemon down cleanly shortly after the answer has been sent."""


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One registered command: its function, its JSON parameters and whether it is
    destructive."""

    name: str
    run: Callable[..., dict[str, Any]]
    destructive: bool
    summary: str
    params: tuple[inspect.Parameter, ...]

    def describe(self) -> dict[str, Any]:
        """Name, summary, destructiveness and parameters, for /help and `GET /api/help`."""
        return {"name": self.name, "summary": self.summary, "destructive": self.destructive,
                "params": {p.name: (None if p.default is inspect.Parameter.empty else p.default)
                           for p in self.params}}


COMMANDS: dict[str, CommandSpec] = {}


def command(name: str, *, destructive: bool = False) -> Callable[[Callable[..., dict[str, Any]]],
                                                                   Callable[..., dict[str, Any]]]:
    """Register `fn(runtime, **params)` as the command `name`."""

    def register(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        params = tuple(inspect.signature(fn).parameters.values())[1:]
        summary = (fn.__doc__ or "").strip().splitlines()[0]
        COMMANDS[name] = CommandSpec(name, fn, destructive, summary, params)
        return fn

    return register


def _coerce(spec: CommandSpec, args: Mapping[str, Any]) -> dict[str, Any]:
    """Check JSON arguments against the command's parameters: names, types, required."""
    known = {p.name: p for p in spec.params}
    unknown = sorted(set(args) - set(known))
    if unknown:
        allowed = ", ".join(known) or "none"
        raise CommandError(f"{spec.name}: unknown argument(s) {', '.join(unknown)}; "
                           f"allowed: {allowed}")
    values: dict[str, Any] = {}
    for name, param in known.items():
        if name not in args:
            if param.default is inspect.Parameter.empty:
                raise CommandError(f"{spec.name}: missing argument {name!r}")
            continue
        value, wanted = args[name], param.annotation
        if wanted in (int, "int"):
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise CommandError(f"{spec.name}: {name} must be an integer, got {value!r}")
            try:
                value = int(value)
            except ValueError:
                raise CommandError(f"{spec.name}: {name} must be an integer, got {value!r}") from None
        elif not isinstance(value, str):
            raise CommandError(f"{spec.name}: {name} must be a string, got {value!r}")
        values[name] = value
    return values


class CommandLayer:
    """The registered commands bound to one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def specs(self) -> dict[str, CommandSpec]:
        return dict(COMMANDS)

    def is_destructive(self, name: str) -> bool:
        spec = COMMANDS.get(name)
        return bool(spec and spec.destructive)

    def call(self, name: str, args: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run command `name` with JSON `args`; raises CommandError with what to do."""
        spec = COMMANDS.get(name)
        if spec is None:
            raise UnknownCommand(f"unknown command {name!r}; known: {', '.join(sorted(COMMANDS))}")
        values = _coerce(spec, args or {})
        if spec.destructive:
            shown = " ".join(f"{k}={v}" for k, v in values.items())
            log.warning("operator command: %s", f"{name} {shown}".strip())
        try:
            return spec.run(self.runtime, **values)
        except OperatorError as exc:
            raise CommandError(str(exc)) from None


# --- helpers ---------------------------------------------------------------------------------
def _trader(rt: Runtime) -> Trader:
    if rt.trader is None or rt.ledger is None:
        raise NotReady("the daemon is still starting (fetching instruments and history); "
                       "try again in a few seconds")
    return rt.trader


def clock_kind(rt: Runtime) -> str:
    """`sim` when the market clock is the simulator's (it runs 60x ahead of real time, so
    renderers mark its timestamps), else `wall`."""
    return "sim" if getattr(rt, "sim", None) is not None else "wall"


def steps(trader: Trader, symbols: Any) -> dict[str, dict[str, str | None]]:
    """Each symbol's price tick and amount lot, so renderers show prices to the tick and
    amounts to the lot (a banded tick, as on Upbit KRW, is None: it depends on the price)."""
    shown: dict[str, dict[str, str | None]] = {}
    for symbol in sorted(set(symbols)):
        instrument = trader.instruments.get(symbol)
        if instrument is not None:
            shown[symbol] = {"tick": None if instrument.tick_bands else str(instrument.tick),
                             "lot": str(instrument.lot)}
    return shown


def _bounded(name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise CommandError(f"{name} must be between {low} and {high}, got {value}")
    return value
