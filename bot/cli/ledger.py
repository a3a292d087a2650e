"""`entasis ledger check|backup|recover|init`: keep the trading record sound, and get it back.

The logic is in state/ (integrity.py, audit.py, backup.py, salvage.py); this module parses
options, finds the files from config.toml and prints. `--json` prints one JSON object on
stdout and nothing else. Exit codes: 0 done / sound, 1 refused or problems found (the
message says what to do), 2 bad options or config, 4 a damaged file (one line, no traceback).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from bot.cli.common import ConfigOption, JsonOption, app, err, load, out
from bot.data_dir import DataDir

ledger_app = typer.Typer(no_args_is_help=True, help="Check, back up and recover the ledger.")
app.add_typer(ledger_app, name="ledger")

LedgerOption = typer.Option(None, "--ledger",
                            help="Ledger file (default: data_dir/ledger.sqlite).")


def _paths(config_path: Path, ledger: Path | None) -> tuple[Path, Path]:
    """(ledger file, data dir): --ledger wins; the data dir comes from config when it loads."""
    if ledger is not None and not config_path.is_file():
        return ledger, ledger.parent
    data_dir = load(config_path).data_dir
    return (ledger or DataDir(data_dir).ledger), data_dir


def _emit(as_json: bool, result: dict[str, Any], lines: list[str]) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        for line in lines:
            out.print(line, highlight=False, soft_wrap=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


@ledger_app.command("check")
def check(
    full: bool = typer.Option(False, "--full",
                              help="Full integrity_check (every index) instead of quick_check."),
    ledger: Path | None = LedgerOption,
    config_path: Path = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """SQLite's integrity check, foreign keys, and projections equal to a replay of the events
    (on a temporary copy: safe while the daemon runs). Exit 1 when anything is wrong."""
    from state.audit import audit

    path, _ = _paths(config_path, ledger)
    report = audit(path, full=full)
    lines = [(f"{'ok' if report.ok else 'PROBLEM'}: {path} "
              f"({'integrity_check' if full else 'quick_check'}: {report.file})")]
    if report.file == "ok":
        lines.append(f"schema v{report.schema_version} · {report.events} events · foreign keys "
                     f"{'ok' if not report.foreign_keys else report.foreign_keys}")
        lines += [f"{table}: {verdict}" for table, verdict in report.projections.items()]
    lines += report.notes
    _emit(as_json, report.as_dict(), lines)
    if not report.ok:
        raise typer.Exit(1)


@ledger_app.command("backup")
def backup(
    out_path: Path | None = typer.Option(
        None, "--out", help="Backup file (default: data_dir/backups/ledger-<UTC time>.sqlite)."),
    ledger: Path | None = LedgerOption,
    config_path: Path = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """Copy the ledger with SQLite's online backup API (safe while the daemon runs), check
    the copy, and write it atomically with mode 0600."""
    from state.backup import BackupError, backup_name
    from state.backup import backup as backup_file

    path, data_dir = _paths(config_path, ledger)
    dest = out_path or DataDir(data_dir).backups / backup_name(time.time_ns() // 1_000_000)
    try:
        result = backup_file(path, dest)
    except BackupError as exc:
        raise _fail(str(exc)) from None
    _emit(as_json, {"ok": True, **result.as_dict()},
          [(f"backed up {path} to {result.path} ({result.size_bytes} bytes, "
            f"{result.seconds:.2f} s)")])


@ledger_app.command("recover")
def recover(
    from_backup: Path | None = typer.Option(
        None, "--from", help="Backup to restore (default: the newest sound one in "
                             "data_dir/backups/)."),
    salvage_out: bool = typer.Option(
        False, "--salvage", help="Instead: copy what is readable into a new file (events, "
                                 "projections rebuilt from them); nothing is replaced."),
    out_path: Path | None = typer.Option(None, "--out", help="Where --salvage writes."),
    force: bool = typer.Option(False, "--force", help="Replace a ledger that passes its check."),
    ledger: Path | None = LedgerOption,
    config_path: Path = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """Put a checked backup in place of a damaged ledger (the damaged files are moved to
    data_dir/damaged/, never deleted), or --salvage what the damaged file still holds."""
    path, data_dir = _paths(config_path, ledger)
    now_ms = time.time_ns() // 1_000_000
    if salvage_out:
        _salvage(path, out_path or path.with_name(
            f"{path.stem}.salvaged-{time.strftime('%Y%m%dT%H%M%SZ')}.sqlite"), as_json)
        return
    with _holding_data_dir(data_dir):
        _refuse_sound_ledger(path, force)
        from state.backup import BackupError, restore

        try:
            chosen, skipped = _choose_backup(from_backup, DataDir(data_dir).backups)
            restored = restore(chosen, path, DataDir(data_dir).damaged, now_ms)
        except BackupError as exc:
            raise _fail(str(exc)) from None
    _emit(as_json, {"ok": True, **restored.as_dict(), "skipped": skipped},
          [*(f"skipped {s}" for s in skipped),
           f"restored {path} from {chosen}",
           *(f"moved aside: {p}" for p in restored.moved_aside),
           ("the daemon reconciles with the broker on its next start; trades after the "
            "backup's time are not in the ledger")])


def _salvage(path: Path, dest: Path, as_json: bool) -> None:
    from state.salvage import SalvageError, salvage

    try:
        report = salvage(path, dest)
    except SalvageError as exc:
        raise _fail(str(exc)) from None
    missing = len(report.missing_seqs)
    verdict = ("every event recovered" if report.complete else
               f"{missing} of {report.highest_seq} events MISSING (first: "
               f"{report.missing_seqs[:5]}): balances replayed from it are wrong by those")
    _emit(as_json, {"ok": True, **report.as_dict()},
          [f"salvaged {report.events} events from {path} into {dest}: {verdict}",
           *report.notes,
           f"nothing was replaced; to use it: entasis ledger recover --from {dest}"])


@contextmanager
def _holding_data_dir(data_dir: Path) -> Iterator[None]:
    """Hold the data directory's lock (bot/data_dir_lock.py) while the ledger is replaced: a
    running daemon would keep writing to the file moved aside, and one starting meanwhile
    would open a half-restored ledger. The OS drops the lock if recover dies."""
    from bot.data_dir import DataDirError
    from bot.data_dir_lock import DataDirInUse, DataDirLock

    lock = DataDirLock(data_dir)
    try:
        lock.acquire()
    except DataDirInUse as exc:
        who = f"pid {exc.pid}" if exc.pid else "pid not yet written"
        raise _fail(f"a daemon ({who}) is running on {data_dir}; stop it first "
                    "(`entasis stop` or `systemctl stop entasis`), then run recover again") from None
    except DataDirError as exc:
        raise _fail(str(exc)) from None
    try:
        yield
    finally:
        lock.release()


def _refuse_sound_ledger(path: Path, force: bool) -> None:
    from state.integrity import LedgerDamaged, preflight

    try:
        sound = preflight(path)
    except LedgerDamaged:
        return
    if sound and not force:
        raise _fail(f"{path} passes its check: nothing to recover. To replace it anyway "
                    "(its files are moved to data_dir/damaged/), add --force")


def _choose_backup(given: Path | None, folder: Path) -> tuple[Path, list[str]]:
    """`given` after its check, else the newest backup in `folder` that passes it."""
    from state.backup import BackupError, check_backup, list_backups
    from state.integrity import LedgerDamaged

    if given is not None:
        check_backup(given)
        return given, []
    skipped: list[str] = []
    for candidate in list_backups(folder):
        try:
            check_backup(candidate)
            return candidate, skipped
        except (LedgerDamaged, BackupError) as exc:
            skipped.append(f"{candidate.name}: {getattr(exc, 'detail', exc)}")
    raise BackupError(f"no sound backup in {folder}; pass one with --from PATH, or salvage "
                      "the damaged file with `entasis ledger recover --salvage`")


@ledger_app.command("init")
def init(
    ledger: Path | None = LedgerOption,
    config_path: Path = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """Create a fresh, empty ledger (a new account). Replaces only an empty (0-byte) file;
    a ledger that holds anything is refused."""
    from state.integrity import LedgerEmpty, preflight, shm_path, wal_path
    from state.ledger import Ledger

    path, _ = _paths(config_path, ledger)
    try:
        exists = preflight(path)
    except LedgerEmpty:
        if wal_path(path).exists() and wal_path(path).stat().st_size > 0:
            raise _fail(f"{path} is empty but {wal_path(path).name} is not; restore a "
                        "backup with `entasis ledger recover`") from None
        for file in (path, wal_path(path), shm_path(path)):
            file.unlink(missing_ok=True)
        exists = False
    if exists:
        raise _fail(f"{path} already holds a ledger; a new account needs it moved away first")
    path.parent.mkdir(parents=True, exist_ok=True)
    Ledger.open(path).close()
    _emit(as_json, {"ok": True, "path": str(path)}, [f"created an empty ledger at {path}"])
