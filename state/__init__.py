"""SQLite ledger and crash recovery. Arrives with issue 3."""
