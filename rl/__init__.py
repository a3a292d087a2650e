"""Self-play reinforcement learning (environment, networks, arena). Arrives with issue 4."""
