"""Runtime wiring: configuration to running daemon (paper or live), market source, staleness
and reconciliation loops, the composition root that builds the trader."""
