"""The SQLite ledger: events with their projections (`state.ledger.Ledger`), the versioned
schema and its migrations (`state.schema`)."""
