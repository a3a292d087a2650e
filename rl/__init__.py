"""Self-play reinforcement learning (environment, networks, arena)."""
