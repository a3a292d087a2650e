"""Risk: sizing, VaR/ES, drawdown breaker, anomaly halt. Arrives with issue 3."""
