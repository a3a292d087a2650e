"""Pure strategy core: multi-window features, regimes and coin ranking (no I/O)."""
