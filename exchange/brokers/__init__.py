"""Brokers: the paper broker on the shared fill model, and ccxt for live. Arrive with issue 3/7."""
