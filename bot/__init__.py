"""Entasis daemon: the asyncio engine, configuration, control endpoint and CLI (I/O edge)."""
