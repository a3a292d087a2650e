"""sqlite-utils' `Database`, imported without pulling pandas into the process.

sqlite-utils imports pandas at import time whenever it is installed, only to map
`pandas.Timestamp` values to TEXT columns (sqlite_utils/db.py). pandas costs a process about
30 MB of RSS, a twentieth of the paper daemon's budget at 500 coins, and the daemon has no
other use for it. Entasis writes only str/int/float/bytes/None through sqlite-utils (every
table's columns are declared in state/schema.py), so the mapping is never needed: while
pandas is not loaded yet, sqlite-utils is imported with pandas marked absent, and the
process stays without it until something that needs pandas (the research commands) loads it.
Import `Database` and `NotFoundError` from here, never from sqlite_utils directly.
"""

from __future__ import annotations

import sys


def _import_sqlite_utils_without_pandas() -> None:
    """Import sqlite_utils once, with pandas marked absent unless it is already loaded."""
    if "sqlite_utils" in sys.modules or "pandas" in sys.modules:
        return
    sys.modules["pandas"] = None  # type: ignore[assignment]  # import_module raises ImportError
    try:
        import sqlite_utils  # noqa: F401
    finally:
        del sys.modules["pandas"]


_import_sqlite_utils_without_pandas()

from sqlite_utils import Database  # noqa: E402  after the guarded first import
from sqlite_utils.db import NotFoundError  # noqa: E402

__all__ = ["Database", "NotFoundError"]
