"""Brokers: the paper broker on the shared fill model, and ccxt for live."""
