"""What every `entasis` command shares: the typer app, the consoles, `--config`/`--json`
options, `fail` (errors as one line, or JSON with `--json`), config loading and tables.

Human output goes through rich tables; `--json` prints one JSON object on stdout and nothing
else, so scripts can parse it. Errors print what to do and exit non-zero.
"""

from __future__ import annotations

import fcntl
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.table import Table

from bot import formatting as fmt
from bot.config import Config, ConfigError, load_config
from state.integrity import EXIT_LEDGER_DAMAGED  # the status for a damaged ledger

try:  # the running command's parameters (`as_json`); typer >= 0.20 runs a vendored click
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - older typer on plain click
    from click import get_current_context  # type: ignore[no-redef]

PIPED_WIDTH = 400  # columns of a table when stdout is a pipe or file: never cut a number



class _App(typer.Typer):
    """The `entasis` app: a damaged ledger met by any command is one line and exit 4."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from state.integrity import LedgerDamaged

        try:
            return super().__call__(*args, **kwargs)
        except (LedgerDamaged, ExceptionGroup) as exc:  # a daemon task's error comes grouped
            damaged = exc if isinstance(exc, LedgerDamaged) else _first(exc, LedgerDamaged)
            if damaged is None:
                raise
            # state/integrity.py's message names the file, the fault and what to do
            err.print(f"[red]error:[/red] {escape(str(damaged))}", highlight=False,
                      soft_wrap=True)
            sys.exit(EXIT_LEDGER_DAMAGED)


def _first(group: BaseExceptionGroup, kind: type[BaseException]) -> BaseException | None:
    """The first `kind` error inside a (nested) exception group, or None."""
    for error in group.exceptions:
        found = _first(error, kind) if isinstance(error, BaseExceptionGroup) else error
        if isinstance(found, kind):
            return found
    return None


HELP = """`entasis` command line: run the daemon, ask it for status, check config, serve the sim.

Human output goes through rich tables; `--json` prints one JSON object on stdout and nothing
else, so scripts can parse it. Errors print what to do and exit non-zero.
"""

# No locals in crash tracebacks: `run` holds the raw API keys for the log redaction filter.
app = _App(add_completion=False, no_args_is_help=True, help=HELP,
           pretty_exceptions_show_locals=False)
config_app = typer.Typer(no_args_is_help=True, help="Inspect the configuration.")
app.add_typer(config_app, name="config")

class _PipeConsole(Console):
    """A console that, when stdout is not a terminal, lays tables out PIPED_WIDTH wide:
    rich's 80-column default cut numbers in `entasis positions | grep ...`."""

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)  # type: ignore[attr-defined]
        return size if self.is_terminal else ConsoleDimensions(max(size.width, PIPED_WIDTH),
                                                                size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


out = _PipeConsole()
err = Console(stderr=True)


def fail(message: str, code: int = 1, hint: str | None = None) -> typer.Exit:
    """Report an error the way the running command was asked to answer, and return the
    `typer.Exit(code)` to raise. With `--json` (the command's `as_json` parameter): one JSON
    object `{"ok": false, "error": ..., "hint": ..., "exit_code": ...}` on stdout, so a script
    that parses stdout always gets JSON. The one `error:` line goes to stderr either way (logs
    and the scheduler's error tail read it there)."""
    context = get_current_context(silent=True)
    if context is not None and context.params.get("as_json"):
        print(json.dumps({"ok": False, "error": message, "hint": hint, "exit_code": code}))
    err.print(f"[red]error:[/red] {escape(message)}" + (f" ({escape(hint)})" if hint else ""),
              highlight=False, soft_wrap=True)
    return typer.Exit(code)

ConfigOption = typer.Option(Path("config.toml"), "--config", "-c", help="Path of config.toml.")
JsonOption = typer.Option(False, "--json", help="Print one JSON object instead of tables.")


def load(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None

def rows_table(title: str, columns: tuple[str, ...], rows: list[list[Any]],
               empty: str = "nothing yet") -> Table | str:
    """A rich table of already formatted cells whose numbers never wrap or get cut (the
    console is wide when piped); when there are no rows, the `empty` words instead."""
    if not rows:
        return f"{title}: {empty}"
    table = Table(title=title)
    for column in columns:
        table.add_column(column, no_wrap=True, overflow="fold")
    for row in rows:
        table.add_row(*[fmt.text(cell) if not isinstance(cell, str) else cell for cell in row])
    return table


def parse_time(text: str | None) -> int | None:
    """ISO date/time (UTC) or epoch ms -> epoch ms."""
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"{text!r} is not an ISO time (2017-11-10T00:00) or epoch ms", 2) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@contextmanager
def exclusive(lock: Path, busy: Exception) -> Iterator[None]:
    """Hold an exclusive lock on the file `lock` for the block (its folder is created);
    raise `busy` at once when another process holds it. Released on exit or when the
    process dies: one self-play or league run per data dir."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
