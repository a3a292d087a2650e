"""Embedded simulated exchange: a seeded market generator or CSV replay, served on 127.0.0.1
in the Binance spot wire protocol."""
