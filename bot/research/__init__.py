"""Offline tools: the replay backtest, reports and charts, data download, anomaly studies."""
