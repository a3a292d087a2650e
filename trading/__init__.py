"""The trading service: the engine that turns market events into decisions, the trader that
sizes, gates and books them, and the operator's controls. Pure of I/O frameworks: it talks to
brokers, ledgers and policies through their protocols and is wired by `bot.app`."""
