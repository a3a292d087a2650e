"""The root of every Entasis exception, and the branches a loop catches to decide what to do.

Freqtrade's lesson: the exception's class, not a flag on it, steers the loop.
Every product exception derives from `EntasisError` and from exactly one branch:

- `TemporaryError`: may work if retried later (network, HTTP 429/5xx, a busy lock, stale
  data). Loops log it and retry with backoff.
- `OperatorError`: the operator (or a client acting for them) asked for something that cannot
  be done as asked. Stop that request or that loop and show the message, which says what to
  change.
- `ConfigError`: the configuration (file, environment, key files, data directory) cannot be
  used. Refuse to start; the message names the setting.
- `DataError`: input that is wrong (a malformed frame, a damaged ledger, a model file that
  does not fit). Skip and count it, or refuse it; retrying the same input cannot help.
- `InternalError`: a bug in Entasis itself (a callback raised where it must not). Stop and
  report the traceback; no retry helps.

Classes keep the builtin bases callers caught before the root existed (`ValueError`,
`RuntimeError`, `ConnectionError`) by multiple inheritance, so no `except` changed meaning.
This module sits in model/, the lowest layer, so every package can import it.
"""

from __future__ import annotations


class EntasisError(Exception):
    """Root of every exception Entasis defines; never raised itself."""


class TemporaryError(EntasisError):
    """May succeed if retried later: log it and retry with backoff."""


class OperatorError(EntasisError):
    """A request that cannot be done as asked: stop it and show the message."""


class ConfigError(EntasisError):
    """The configuration cannot be used: refuse to start; the message names the setting."""


class DataError(EntasisError):
    """Input that is wrong: skip and count it, or refuse it; a retry cannot help."""


class InternalError(EntasisError):
    """A bug in Entasis itself: stop and report it; a retry cannot help."""


#: The branches, in the order the module doc lists them; each product exception is under one.
BRANCHES: tuple[type[EntasisError], ...] = (
    TemporaryError, OperatorError, ConfigError, DataError, InternalError)
