"""Market data model, instruments, feeds and brokers, and the embedded simulated exchange."""
