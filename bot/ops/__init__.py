"""Operator surfaces: the command layer, the loopback control endpoint, Telegram,
notifications, Prometheus metrics, systemd notify and the scheduler."""
