"""Market data feeds: websocket clients that normalize exchange frames to Tick and Bar."""
