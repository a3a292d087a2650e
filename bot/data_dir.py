"""The data directory: judged before use, and its failures said in one line with the fix.

Three moments, three checks:
1. `data_dir_problem` at configuration time (bot/config.py): without writing anything it
   refuses `/`, system directories, a file, and a folder this user cannot create or write,
   so `entasis config check` already says so.
2. `prepare_data_dir` at daemon start: creates the folder and proves it takes a write
   (permissions, read-only mounts and a full disk only show when writing).
3. `startup_failure` around the whole run: a disk that fills up later, or a ledger SQLite
   cannot write, ends the daemon with one line naming the folder instead of a traceback;
   the ledger stays consistent because every write is one transaction.

`DataDirLock` (bot/data_dir_lock.py) makes the folder one daemon's.

`DataDir` names every file and folder the daemon and its tools keep in the data directory,
once: the ledger, the model registry, the control files, the locks, backups and reports.

`refuse_non_finite_amounts` catches a ledger poisoned by an earlier release that accepted
`starting_balance = inf`. It raises the ledger's own `LedgerDamaged`, so the operator gets the
same one line, exit status and recovery commands as for any unusable ledger, instead of a
crash loop.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from model import errors
from state.integrity import LedgerDamaged

if TYPE_CHECKING:
    from state.ledger import Ledger

# Owned by the OS (or virtual): nothing of ours belongs at or below them. /usr/local is
# the administrator's, so it is allowed below itself.
SYSTEM_TREES = tuple(Path(p) for p in ("/proc", "/sys", "/dev", "/boot", "/etc", "/bin", "/sbin",
                                       "/lib", "/lib32", "/lib64", "/libx32", "/usr"))
ADMIN_TREE = Path("/usr/local")
# Shared folders: fine as parents (/var/lib/entasis), never as the data directory itself,
# where the ledger and the control token would sit among everyone else's files.
SHARED_DIRS = frozenset(Path(p) for p in ("/", "/home", "/mnt", "/media", "/opt", "/root", "/run",
                                          "/srv", "/tmp", "/var", "/var/lib", "/var/tmp",
                                          "/var/log", "/var/cache", "/usr/local"))
CHOOSE = ("set app.data_dir (or ENTASIS__APP__DATA_DIR) to a folder of its own, e.g. "
          '"var" beside config.toml or /var/lib/entasis')
LOCK_FILE = "entasis.lock"
PROBE_BYTES = 128 * 1024  # a fresh ledger is 92 KiB, plus a 32 KiB -shm beside it


@dataclass(frozen=True, slots=True)
class DataDir:
    """The data directory's files and folders, named here and nowhere else in the product.

    `DataDir(config.data_dir).ledger` rather than `config.data_dir / "ledger.sqlite"`: a name
    written twice drifts (the model registry's was written in four modules). The registry's
    name belongs to rl/registry.py, which sits below bot/ and needs it too."""

    path: Path

    @property
    def ledger(self) -> Path:
        """The trading ledger: every order, fill, balance and decision (state/ledger.py)."""
        return self.path / "ledger.sqlite"

    @property
    def models(self) -> Path:
        """The model registry, a ledger-format file of its own (rl/registry.py)."""
        # Imported here: rl.registry loads sqlite_utils (2 s), which bot.config, importing
        # this module, must not pay for on every `entasis config check`.
        from rl.registry import REGISTRY_FILE

        return self.path / REGISTRY_FILE

    @property
    def lock(self) -> Path:
        """Held by the one process that owns the directory (`DataDirLock`)."""
        return self.path / LOCK_FILE

    @property
    def control(self) -> Path:
        """Where the running daemon's control API listens (bot/ops/control.py)."""
        return self.path / "control.json"

    @property
    def token(self) -> Path:
        """The control API's bearer token (mode 0600)."""
        return self.path / "control.token"

    @property
    def metrics(self) -> Path:
        """Where the running daemon's metrics endpoint listens (bot/ops/metrics.py)."""
        return self.path / "metrics.json"

    @property
    def schedule(self) -> Path:
        """The scheduler's record of jobs run (bot/ops/scheduler.py)."""
        return self.path / "schedule.sqlite"

    @property
    def backups(self) -> Path:
        """Online ledger backups (state/backup.py), newest kept."""
        return self.path / "backups"

    @property
    def damaged(self) -> Path:
        """Where `entasis ledger recover` moves the files it replaces."""
        return self.path / "damaged"

    @property
    def reports(self) -> Path:
        """Scheduled reports, one folder per run."""
        return self.path / "reports"

    @property
    def backtests(self) -> Path:
        """Ledgers of `entasis backtest` runs."""
        return self.path / "backtests"

    @property
    def selfplay(self) -> Path:
        """Self-play's working folder (checkpoints, arena episodes)."""
        return self.path / "selfplay"

    @property
    def selfplay_lock(self) -> Path:
        """Held by the one `entasis selfplay` run on this directory."""
        return self.path / "selfplay.lock"

    @property
    def portfolio_models(self) -> Path:
        """The portfolio league's model registry (rl/portfolio_league.py), apart from
        `models`, which the daemon's single-coin `rl` policy reads."""
        from rl.registry import PORTFOLIO_REGISTRY_FILE

        return self.path / PORTFOLIO_REGISTRY_FILE

    @property
    def league(self) -> Path:
        """`entasis league`'s working folder (one folder per generation, resumable)."""
        return self.path / "league"

    @property
    def league_lock(self) -> Path:
        """Held by the one `entasis league` run on this directory."""
        return self.path / "league.lock"

    @property
    def walkforward_trials(self) -> Path:
        """Every configuration `entasis walkforward` ever ran, per data folder and timeframe
        (bot/research/trials.py): the deflated Sharpe ratio's trial count."""
        return self.path / "walkforward_trials.sqlite"


class DataDirError(errors.ConfigError):
    """The data directory cannot be used; the message (one line) names the path and says
    what to do."""


def data_dir_problem(path: Path) -> str:
    """Why `path` cannot be the data directory ("" when it can), judged without writing."""
    resolved = _resolved(path)
    if resolved == Path("/"):
        return f"{resolved} is the root directory; {CHOOSE}"
    if _is_system(resolved):
        return f"{resolved} is a system directory; {CHOOSE}"
    existing = _nearest_existing(resolved)
    if existing is None:
        return f"{resolved}: cannot look at it or any parent (permission denied); {CHOOSE}"
    if not existing.is_dir():
        if existing == resolved:
            return f"{resolved} exists and is not a directory; move that file away or {CHOOSE}"
        return (f"{resolved} cannot be created: {existing} is a file, not a directory; "
                f"move that file away or {CHOOSE}")
    if _read_only_mount(existing):
        return f"{resolved} is on a read-only filesystem; remount it read-write or {CHOOSE}"
    if not os.access(existing, os.W_OK | os.X_OK):
        if existing == resolved:
            return (f"{resolved} is not writable by user {_user()}; chown or chmod it for the "
                    f"user that runs the daemon, or {CHOOSE}")
        return (f"{resolved} cannot be created: {existing} is not writable by user {_user()}; "
                f"create it first (mkdir -p {resolved} and chown it to the daemon's user), "
                f"or {CHOOSE}")
    return ""


def prepare_data_dir(path: Path) -> None:
    """Create the data directory and prove it takes a write before the ledger opens, so a
    failure names the folder and the fix instead of surfacing as a SQLite error."""
    probe = path / f".write-probe-{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        try:
            with open(probe, "wb") as handle:
                handle.write(b"\0" * PROBE_BYTES)
                handle.flush()
                os.fsync(handle.fileno())  # a full disk may only say so here
        finally:
            probe.unlink(missing_ok=True)
    except OSError as exc:
        raise DataDirError(describe_os_error(path, exc)) from None


def describe_os_error(path: Path, exc: OSError) -> str:
    """One line: what went wrong writing under data directory `path`, and what to do."""
    where = exc.filename or path
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"data directory {path}: the disk is full (or over quota) writing {where}; "
                "free space there and start again (the ledger stays as it was)")
    if exc.errno == errno.EROFS:
        return (f"data directory {path} is on a read-only filesystem; remount it "
                f"read-write or {CHOOSE}")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (f"data directory {path}: permission denied on {where} for user {_user()}; "
                f"chown or chmod it for the user that runs the daemon, or {CHOOSE}")
    if exc.errno == errno.EEXIST:
        return (f"data directory {path}: {where} exists and is not a directory; move that "
                f"file away or {CHOOSE}")
    if exc.errno == errno.ENOTDIR:
        return (f"data directory {path}: a parent of {where} is a file, not a directory; "
                f"move that file away or {CHOOSE}")
    return f"data directory {path}: {exc.strerror or exc} ({where}); {CHOOSE}"


def startup_failure(exc: BaseException, data_dir: Path) -> str | None:
    """The one-line message for a failure of the data directory inside `exc` (a task group's
    error included), or None when `exc` is something else (a bug: keep its traceback)."""
    for error in _leaves(exc):
        if isinstance(error, DataDirError):
            return str(error)
        if isinstance(error, OSError) and _about_data_dir(error, data_dir):
            return describe_os_error(data_dir, error)
        if isinstance(error, sqlite3.OperationalError):
            text = str(error).lower()
            if "disk is full" in text:
                return describe_os_error(data_dir, OSError(errno.ENOSPC, "disk full"))
            if "readonly database" in text or "unable to open database" in text:
                return (f"data directory {data_dir}: SQLite cannot write there ({error}); make "
                        f"the folder and its files writable by user {_user()} on a read-write "
                        f"mount, or {CHOOSE}")
    return None


def refuse_non_finite_amounts(ledger: Ledger) -> None:
    """Refuse a ledger that holds Infinity or NaN (left by a release that accepted
    `starting_balance = inf`): every start would crash on it, whatever the config says now."""
    amounts: list[tuple[str, Decimal]] = []
    for balance in ledger.balances():
        amounts += [(f"{balance.asset} balance", balance.free),
                    (f"{balance.asset} locked balance", balance.locked)]
    for position in ledger.positions():
        amounts += [(f"{position.symbol} position", position.amount),
                    (f"{position.symbol} average price", position.avg_price),
                    (f"{position.symbol} realized PnL", position.realized_pnl)]
    state = ledger.get_kv("trading_state") or {}
    for key in ("day_start_equity", "peak_equity"):
        if key in state:
            amounts.append((f"trading state {key}", Decimal(str(state[key]))))
    for name, value in amounts:
        if not value.is_finite():
            path = ledger.path
            raise LedgerDamaged(
                path, f"it holds a non-finite amount ({name} = {value}), left by a start with "
                "an invalid trading.starting_balance, and cannot be resumed",
                f"move {path.name} (and its -wal/-shm files) out of {path.parent} to start a "
                "fresh paper account (backups of it hold the same amounts)")


def _about_data_dir(error: OSError, data_dir: Path) -> bool:
    """A full disk, whichever write hit it (the daemon writes nowhere else), or a refusal on
    a path inside the data directory (not, say, a privileged port)."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if error.errno not in (errno.EROFS, errno.EACCES, errno.EPERM) or not error.filename:
        return False
    path, root = _resolved(Path(os.fsdecode(error.filename))), _resolved(data_dir)
    return path == root or root in path.parents


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def _resolved(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop: judge the path as written
        return path.absolute()


def _is_system(path: Path) -> bool:
    if path in SHARED_DIRS:
        return True
    if path == ADMIN_TREE or ADMIN_TREE in path.parents:
        return False
    return any(path == tree or tree in path.parents for tree in SYSTEM_TREES)


def _nearest_existing(path: Path) -> Path | None:
    for candidate in (path, *path.parents):
        try:
            if candidate.exists():
                return candidate
        except OSError:  # a parent we may not search: judge that parent instead
            continue
    return None


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())
