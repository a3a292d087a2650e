"""A replay's ledger holds quiet steps' rows back until its hour commits (state/pending_rows.py).
What reads the ledger must see them as direct writes would be seen: the table digest taken
inside that hour, and the equity series a backtest's statistics read."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

from state.codec import canonical_json
from state.ledger import Ledger


def _digest_of(ledger: Ledger, tables: list[str]) -> str:
    """The digest's definition (Ledger.table_digest's docstring), on the rows in the file."""
    digest = hashlib.sha256()
    for name in sorted(tables):
        order = ", ".join(ledger.db.table(name).pks)
        cursor = ledger._conn.execute(f"SELECT * FROM {name} ORDER BY {order}")
        digest.update(canonical_json([name, [d[0] for d in cursor.description]]).encode())
        for row in cursor:
            digest.update(b"\n" + canonical_json(list(row)).encode())
        digest.update(b"\n\n")
    return digest.hexdigest()


def test_a_digest_inside_the_hour_counts_the_rows_held_back(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "l.sqlite", instruments={}, durable=False) as ledger:
        ledger.hold_back_rows = True
        with ledger.batch():
            for k in range(3):
                ledger.snapshot_equity(60_000 * (k + 1), equity=Decimal("1000.1") + k,
                                       cash=Decimal("1000.1"), positions_value=Decimal(k))
            inside = ledger.table_digest(["equity"])
        assert inside == ledger.table_digest(["equity"]) == _digest_of(ledger, ["equity"])
        assert ledger._conn.execute("SELECT count(*) FROM equity").fetchone()[0] == 3


def test_the_equity_series_is_the_curve_as_floats(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "l.sqlite", instruments={}, durable=False) as ledger:
        ledger.hold_back_rows = True
        values = [Decimal("1000.1"), Decimal("0.1") * 3, Decimal("12345.678901234567890123")]
        with ledger.batch():
            for k, value in enumerate(values):
                ledger.snapshot_equity(60_000 * (k + 1), equity=value, cash=value,
                                       positions_value=Decimal(0))
            series = ledger.equity_series()  # inside the hour: the held rows are read too
        curve = ledger.equity_curve()
        assert series == ([p.ts for p in curve], [float(p.equity) for p in curve])
        assert series[1] == [float(v) for v in values]
